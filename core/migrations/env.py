"""Alembic environment: runs on the connection the caller hands over, or on sqlalchemy.url."""

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from core.tables import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic: no sqlalchemy.url configured (core.db.alembic_config sets it)")
    # No pool, and disposed: a pooled connection of an engine nobody disposes stays open until
    # the engine is garbage-collected, whenever that is (psycopg then warns it was left open).
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata,
                              render_as_batch=conn.dialect.name == "sqlite")
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
