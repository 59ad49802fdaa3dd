"""The database object and ``flask init-db``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DefaultClause, Table, event, inspect, text
from sqlalchemy.engine import Connection, Engine, Inspector
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.sql import ClauseElement

from .models import Base

db = SQLAlchemy(model_class=Base)


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: object) -> None:
    # WAL lets the UI read while the collector writes; NORMAL is durable in WAL
    # mode except for the last transactions on power loss, never corrupt.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Reads map the file (up to 4 GiB) instead of copying each page: about a quarter off a
    # ranking's thousands of index seeks (one piece of 10,000 markets: 62 -> 45 ms). Writes
    # still go through the WAL.
    cursor.execute("PRAGMA mmap_size=4294967296")
    cursor.close()


def init_app(app: Flask) -> None:
    """Bind the database to the app and register ``init-db``."""
    db.init_app(app)
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
    app.cli.add_command(init_db_command)


def _existing(inspector: Inspector) -> list[Table]:
    """The models' tables the database already has: ``create_all`` leaves them as they are."""
    return [table for table in Base.metadata.sorted_tables if inspector.has_table(table.name)]


def add_missing_columns() -> list[str]:
    """Add the nullable (or server-defaulted) columns that newer versions gave existing tables
    (``create_all`` only creates missing tables); return them as ``table.column``."""
    inspector = inspect(db.engine)
    added = []
    with db.engine.begin() as conn:
        for table in _existing(inspector):
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                default = column.server_default
                if column.name in present or not (column.nullable or isinstance(default, DefaultClause)):
                    continue
                kind = column.type.compile(dialect=conn.dialect)
                if isinstance(default, DefaultClause) and isinstance(default.arg, ClauseElement):
                    kind += f" NOT NULL DEFAULT {default.arg.compile(dialect=conn.dialect)}"
                conn.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'))
                added.append(f"{table.name}.{column.name}")
    return added


def rekey_tables() -> list[str]:
    """Give existing tables the primary key order of their models (a table rebuilt in one
    transaction on SQLite, the key replaced on PostgreSQL) and the indexes they lack
    (``create_all`` only creates missing tables); return the tables rekeyed."""
    inspector = inspect(db.engine)
    rekeyed = []
    with db.engine.begin() as conn:
        for table in _existing(inspector):
            wanted = [column.name for column in table.primary_key.columns]
            key = inspector.get_pk_constraint(table.name)
            if key["constrained_columns"] != wanted:
                rekeyed.append(table.name)
                if conn.dialect.name == "sqlite":
                    names = [index["name"] for index in inspector.get_indexes(table.name)]
                    _rebuild_sqlite(conn, table, names)
                else:
                    listed = ", ".join(f'"{name}"' for name in wanted)
                    conn.execute(text(f'ALTER TABLE "{table.name}" DROP CONSTRAINT "{key["name"]}"'))
                    conn.execute(text(f'ALTER TABLE "{table.name}" ADD PRIMARY KEY ({listed})'))
            for index in table.indexes:
                index.create(conn, checkfirst=True)
    return rekeyed


def _rebuild_sqlite(conn: Connection, table: Table, indexes: list[str | None]) -> None:
    """Copy a SQLite table into a new one of its model's schema, in key order (SQLite cannot
    change a primary key in place)."""
    old = f"{table.name}_rekeyed"
    for name in indexes:  # index names are the schema's: the new table's would clash
        conn.execute(text(f'DROP INDEX "{name}"'))
    conn.execute(text(f'ALTER TABLE "{table.name}" RENAME TO "{old}"'))
    table.create(conn)
    listed = ", ".join(f'"{column.name}"' for column in table.columns)
    order = ", ".join(f'"{column.name}"' for column in table.primary_key.columns)
    conn.execute(text(f'INSERT INTO "{table.name}" ({listed}) SELECT {listed} FROM "{old}" ORDER BY {order}'))
    conn.execute(text(f'DROP TABLE "{old}"'))


def init_db(drop: bool = False) -> int:
    """Create missing tables and columns (with ``drop``, delete every table and its data first),
    on PostgreSQL partition ``tick`` (in place if it was not) and create its months around now, and
    build the rollups of markets whose ticks predate them; return how many markets needed that."""
    from .clock import now_ms
    from .storage import ticks  # pandas loads only when the schema is set up

    if drop:
        db.drop_all()
    db.create_all()
    add_missing_columns()
    rekey_tables()
    if db.engine.dialect.name == "postgresql":  # tick by month, an older one migrated
        from .storage import partitions  # psycopg: the postgres extra's

        partitions.prepare(db.session(), now_ms())
    rebuilt = ticks.prepare_rollups(db.session())
    db.session.commit()
    return rebuilt


@click.command("init-db")
@with_appcontext
@click.option("--drop", is_flag=True, help="Delete all tables and their data first.")
@click.option("--yes", is_flag=True, help="Do not ask before --drop.")
def init_db_command(drop: bool, yes: bool) -> None:
    """Create the database schema (safe to run again)."""
    if drop and not yes:
        click.confirm(
            f"Delete every table and all data in {db.engine.url.render_as_string(hide_password=True)}?",
            abort=True,
        )
    rebuilt = init_db(drop=drop)
    click.echo(f"Initialized the database: {db.engine.url.render_as_string(hide_password=True)}")
    if rebuilt:
        click.echo(f"Built the rollups of {rebuilt} market{'s' if rebuilt != 1 else ''} stored before them")
