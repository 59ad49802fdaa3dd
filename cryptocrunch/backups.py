"""``flask backup`` and ``flask restore``: a consistent copy of the database while the collector
writes (SQLite's ``VACUUM INTO``, gzip-compressed; ``pg_dump -Fc`` on PostgreSQL, of the
instance's schema when the URL sets a search_path), named by time, into a folder or S3 (as
exports), the oldest beyond ``--keep`` removed; and its restore into an empty (or ``--force``d)
database, followed by init-db."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.engine import URL, make_url

from .config import ConfigError, add_check
from .db import db, init_db
from .models import Market, Tick, User

if TYPE_CHECKING:
    from .exports.specs import S3Location

PREFIX = "cryptocrunch-"
SUFFIXES = (".sqlite.gz", ".pgdump")


class BackupError(Exception):
    """A backup or restore could not be made; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Backup:
    """A backup made: where it went, its size, how long it took, the old ones removed."""

    where: str
    size: int
    seconds: float
    removed: list[str]

    def describe(self) -> str:
        rate = self.size / 1e6 / max(self.seconds, 1e-9)
        gone = f", removed {len(self.removed)} older" if self.removed else ""
        size = f"{self.size / 1e6:.1f} MB in {self.seconds:.2f} s ({rate:.1f} MB/s)"
        return f"backup       {self.where}  {size}{gone}"


def _postgres(url: URL) -> tuple[list[str], str | None]:
    """(libpq connection arguments, the schema the URL's search_path names, if any)."""
    options = parse_qs(urlsplit(url.render_as_string(hide_password=False)).query).get("options", [""])[0]
    schema = options.removeprefix("-csearch_path=") if options.startswith("-csearch_path=") else None
    plain = url.set(drivername="postgresql", query={})
    return [plain.render_as_string(hide_password=False)], schema


def _sqlite_copy(url: URL, into: Path) -> None:
    """An online backup of the SQLite database of ``url`` into the file ``into``, gzip-compressed."""
    if not url.database or url.database == ":memory:":
        raise BackupError("the SQLite database is in memory: nothing to back up")
    with tempfile.TemporaryDirectory(prefix="cryptocrunch-backup-") as folder:
        copy = Path(folder) / "copy.sqlite"
        source = sqlite3.connect(url.database)
        try:
            # one read transaction: a consistent snapshot, and in WAL mode the writer goes on
            source.execute("VACUUM INTO ?", (str(copy),))
        finally:
            source.close()
        with open(copy, "rb") as raw, gzip.open(into, "wb", compresslevel=6) as packed:
            shutil.copyfileobj(raw, packed, 1 << 20)


def _pg_dump(url: URL, into: Path) -> None:
    connection, schema = _postgres(url)
    command = [
        "pg_dump",
        "-Fc",
        "--no-owner",
        "-f",
        str(into),
        *(["-n", schema] if schema else []),
        *connection,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=24 * 3600)
    except FileNotFoundError:
        raise BackupError(
            "pg_dump not found: install the PostgreSQL client (apt-get install postgresql-client)"
        ) from None
    if done.returncode:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")


def _remove_old(target: Path | S3Location, keep: int, config: Mapping[str, Any]) -> list[str]:
    """Remove the backups at ``target`` (a folder or an S3 location) beyond the newest ``keep``;
    their names."""

    def ours(names: list[str]) -> list[str]:
        return sorted(n for n in names if n.startswith(PREFIX) and n.endswith(SUFFIXES))  # oldest first

    if isinstance(target, Path):
        old = ours([p.name for p in target.iterdir()])[:-keep]
        for name in old:
            (target / name).unlink(missing_ok=True)
        return old
    from .exports.files import s3_client

    client = s3_client(config)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=target.key(PREFIX))
    names = [item["Key"].rsplit("/", 1)[-1] for page in pages for item in page.get("Contents", [])]
    old = ours(names)[:-keep]
    for name in old:
        client.delete_object(Bucket=target.bucket, Key=target.key(name))
    return old


def backup(app: Flask, to: str | None, keep: int) -> Backup:
    """Back up the app's database to ``to`` (a folder, s3://bucket/prefix; None: BACKUP_TO, else
    the instance's backups/), keeping the newest ``keep``."""
    from .exports.files import ExportError, upload_file
    from .exports.specs import destination

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    where = to or app.config["BACKUP_TO"]
    try:
        target = destination(where, app.instance_path) if where else Path(app.instance_path) / "backups"
    except ValueError as error:
        raise BackupError(str(error).replace("to ", "--to ", 1)) from None
    suffix = ".pgdump" if url.get_backend_name() == "postgresql" else ".sqlite.gz"
    name = f"{PREFIX}{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}{suffix}"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cryptocrunch-backup-") as folder:
        made = Path(folder) / name
        if suffix == ".pgdump":
            _pg_dump(url, made)
        else:
            _sqlite_copy(url, made)
        size = made.stat().st_size
        if isinstance(target, Path):
            target.mkdir(parents=True, exist_ok=True)
            final, part = target / name, target / f"{name}.part"
            shutil.move(made, part)
            part.rename(final)  # whole or not at all
            shown = str(final)
        else:
            try:
                shown = upload_file(made, target, name, "application/octet-stream", app.config)
            except ExportError as error:
                raise BackupError(str(error)) from None
    seconds = time.monotonic() - started
    return Backup(shown, size, seconds, _remove_old(target, keep, app.config))


def _empty() -> bool:
    session = db.session()
    try:
        return not any(session.scalar(select(func.count()).select_from(t)) for t in (Market, Tick, User))
    except Exception:  # noqa: BLE001 (no tables yet: empty)
        session.rollback()
        return True


def restore(app: Flask, path: Path, force: bool) -> str:
    """Restore the backup file ``path`` into the app's database (empty, unless ``force``), then
    init-db; the summary line."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    if not path.name.endswith(SUFFIXES):
        raise BackupError(f"{path.name}: not a cryptocrunch backup (*.sqlite.gz or *.pgdump)")
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    postgres = url.get_backend_name() == "postgresql"
    if postgres != path.name.endswith(".pgdump"):
        raise BackupError(
            f"{path.name} is a {'SQLite' if postgres else 'PostgreSQL'} backup; this database is not"
        )
    if not force and not _empty():
        raise BackupError("the database holds data: restore into an empty one, or pass --force to replace it")
    started = time.monotonic()
    if postgres:
        listed = subprocess.run(["pg_restore", "--list", str(path)], capture_output=True, text=True)
        if listed.returncode:  # not a dump pg_restore can read: nothing was touched
            raise BackupError(f"pg_restore failed: {listed.stderr.strip()}")
        # pg_restore --clean cannot drop a partition's inherited primary key: drop the tables first
        db.drop_all()
    db.session.remove()
    db.engine.dispose()
    if postgres:
        connection, _ = _postgres(url)  # the dump names its schema itself
        command = ["pg_restore", "--clean", "--if-exists", "--no-owner", "-d", *connection, str(path)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise BackupError(f"pg_restore failed: {done.stderr.strip()}")
    else:
        with tempfile.TemporaryDirectory(prefix="cryptocrunch-restore-") as folder:
            copy = Path(folder) / "restore.sqlite"
            try:
                with gzip.open(path, "rb") as packed, open(copy, "wb") as raw:
                    shutil.copyfileobj(packed, raw, 1 << 20)
            except (OSError, EOFError) as error:
                raise BackupError(f"{path.name}: not a readable backup ({error})") from None
            source = sqlite3.connect(copy)
            try:
                check = source.execute("PRAGMA integrity_check").fetchone()
                if not check or check[0] != "ok":
                    raise BackupError(f"{path.name}: the copy fails SQLite's integrity check ({check})")
                target = sqlite3.connect(str(url.database))
                try:
                    source.backup(target)
                finally:
                    target.close()
            except sqlite3.DatabaseError as error:
                raise BackupError(f"{path.name}: not a SQLite database ({error})") from None
            finally:
                source.close()
    init_db()
    return f"restored {path.name} in {time.monotonic() - started:.2f} s"


def check_settings(config: Mapping[str, Any]) -> None:
    """Check BACKUP_TO and BACKUP_KEEP."""
    keep = config["BACKUP_KEEP"]
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ConfigError(f"BACKUP_KEEP must be a whole number of at least 1, got {keep!r}")
    to = config["BACKUP_TO"]
    if to is not None and not (isinstance(to, str) and to):
        raise ConfigError(f"BACKUP_TO must be a folder, s3://bucket/prefix or null, got {to!r}")


@click.command("backup")
@click.option("--to", help="A folder or s3://bucket/prefix [default: BACKUP_TO, else instance/backups].")
@click.option(
    "--keep", type=click.IntRange(min=1), help="How many backups to keep there [default: BACKUP_KEEP]."
)
@with_appcontext
def backup_command(to: str | None, keep: int | None) -> None:
    """Back up the database (consistent while the collector writes)."""
    try:
        made = backup(current_app, to, keep or int(current_app.config["BACKUP_KEEP"]))
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(made.describe())


def _fetched(file: str, into: Path, config: Mapping[str, Any]) -> Path:
    """The local path of the backup ``file``: itself, or an s3:// object downloaded into ``into``."""
    if not file.startswith("s3://"):
        return Path(file)
    from .exports.files import ExportError, download_file

    try:
        return download_file(file, into, config)
    except (ExportError, ValueError) as error:
        raise BackupError(str(error)) from None


@click.command("restore")
@click.argument("file")
@click.option("--force", is_flag=True, help="Replace a database that holds data.")
@click.option("--yes", is_flag=True, help="Do not ask first.")
@with_appcontext
def restore_command(file: str, force: bool, yes: bool) -> None:
    """Restore a backup FILE (a path, or s3://bucket/key: downloaded first) into this instance's
    database, then run init-db."""
    if not yes:
        into = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string()  # password hidden
        click.confirm(f"Restore {file.rsplit('/', 1)[-1]} into {into}?", abort=True)
    try:
        with tempfile.TemporaryDirectory(prefix="cryptocrunch-restore-") as folder:
            click.echo(restore(current_app, _fetched(file, Path(folder), current_app.config), force))
    except BackupError as error:
        raise click.ClickException(str(error)) from None


def init_app(app: Flask) -> None:
    """The BACKUP_* checks, `flask backup` and `flask restore`."""
    add_check(app, check_settings)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
