"""Alembic environment: the tracker passes its own connection; a checkout uses alembic.ini."""

from alembic import context
from sqlalchemy import create_engine

from tracker.store import search_index
from tracker.store.models import Base

config = context.config


def include_name(name, type_, parent_names) -> bool:
    """Autogenerate compares the models' tables only: the search index (migration 0006) is
    derived data kept by triggers, in no model (see tracker.store.search_index)."""
    return not (type_ == "table" and name in search_index.table_names())


def run_with(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_with(connection)
elif context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        render_as_batch=True,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    from tracker.store.database import Database

    database = Database(config.get_main_option("sqlalchemy.url"))
    engine = create_engine(database.url)
    with engine.begin() as conn:
        run_with(conn)
