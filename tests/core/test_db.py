"""Engines of the store: what disposing of them does to connections still in use."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy import text

from core.db import dispose_engines, get_engine

CLOSED = (sqlite3.ProgrammingError, psycopg.OperationalError)


def test_a_connection_given_back_after_dispose_is_closed(database_url):
    engine = get_engine(database_url)
    held = engine.connect()  # a job's thread mid-work when the engines are disposed
    held.execute(text("SELECT 1"))
    raw = held.connection.dbapi_connection
    dispose_engines()
    assert get_engine(database_url) is not engine
    raw.cursor().execute("SELECT 1")  # still in use: disposing does not pull it away
    held.close()
    with pytest.raises(CLOSED):
        raw.cursor().execute("SELECT 1")


def test_a_forgotten_engine_still_works_and_keeps_no_connection(database_url):
    engine = get_engine(database_url)  # held across the dispose, as a session opened before it
    dispose_engines()
    with engine.connect() as conn:  # the disposed engine's new pool
        raw = conn.connection.dbapi_connection
        conn.execute(text("SELECT 1"))
    # Given back into a pool no one will dispose of: closed, not left to the garbage collector
    # (psycopg warns then, an error under filterwarnings, in whichever test runs at the time).
    with pytest.raises(CLOSED):
        raw.cursor().execute("SELECT 1")
