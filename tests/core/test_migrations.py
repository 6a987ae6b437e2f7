"""The Alembic migrations build exactly the tables the ORM declares, on both back ends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from core.db import get_engine, upgrade
from core.tables import Base


def test_upgrade_creates_every_table(settings):
    upgrade(settings.database_url)
    tables = set(inspect(get_engine(settings.database_url)).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migrations_match_the_orm(settings):
    upgrade(settings.database_url)
    with get_engine(settings.database_url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_twice_is_harmless(settings):
    upgrade(settings.database_url)
    upgrade(settings.database_url)
    with get_engine(settings.database_url).connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is not None
