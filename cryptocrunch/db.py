"""The database object and ``flask init-db``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .models import Base

db = SQLAlchemy(model_class=Base)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # WAL lets the UI read while the collector writes; NORMAL is durable in WAL
    # mode except for the last transactions on power loss, never corrupt.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def init_app(app: Flask) -> None:
    """Bind the database to the app and register ``init-db``."""
    db.init_app(app)
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
    app.cli.add_command(init_db_command)


def init_db(drop: bool = False) -> int:
    """Create missing tables (with ``drop``, delete every table and its data first), and build the
    rollups of markets whose ticks predate them; return how many markets needed that."""
    from . import storage

    if drop:
        db.drop_all()
    db.create_all()
    rebuilt = storage.rebuild_missing_rollups(db.session)
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
