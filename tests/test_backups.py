"""flask backup / flask restore: a consistent copy while ticks are written, kept N deep in a
folder or on S3 (moto's server on 127.0.0.1), restored into an empty or --forced database; on
SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_export import s3, s3_server  # noqa: F401 (fixtures)

from cryptocrunch.clock import HOUR
from cryptocrunch.db import db
from cryptocrunch.models import Market, Rollup, Tick
from cryptocrunch.sources.base import Tick as TickValue
from cryptocrunch.storage.ticks import FINEST, closed_until, store_ticks

START = 1_700_000_000_000 // HOUR * HOUR


def write(app, first: int, count: int, markets: int = 20) -> None:
    with app.app_context():
        store_ticks(
            db.session,
            [
                TickValue("kraken", f"C{m}/USD", START + (first + i) * 1000, 100.0 + (first + i) % 17)
                for i in range(count)
                for m in range(markets)
            ],
        )
        db.session.commit()


def counts(app) -> tuple[int, int, int, int]:
    """(markets, ticks, ticks before the 5-minute watermark, ticks counted by the 5-minute rollups):
    the last two agree in a consistent copy."""
    with app.app_context():
        session = db.session()
        ticks = session.scalar(select(func.count()).select_from(Tick))
        built = closed_until(session)[FINEST]
        before = session.scalar(select(func.count()).select_from(Tick).where(Tick.ts < built))
        rolled = session.scalar(select(func.sum(Rollup.n)).where(Rollup.span == FINEST)) or 0
        result = (session.scalar(select(func.count()).select_from(Market)), ticks, before, int(rolled))
        db.session.remove()
        return result


def backup(app, *args):
    result = app.test_cli_runner().invoke(args=["backup", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_backup_while_ticks_are_written_restores_consistent(make_app, tmp_path, database_url):
    app = make_app()
    write(app, 0, 500)
    stop = threading.Event()

    def collector():  # a heavy writer while the backup runs
        batch = 500
        while not stop.is_set():
            write(app, batch, 200)
            batch += 200

    writer = threading.Thread(target=collector)
    writer.start()
    try:
        line = backup(app, "--to", str(tmp_path / "backups"))
    finally:
        stop.set()
        writer.join()
    assert "MB/s" in line
    [made] = list((tmp_path / "backups").iterdir())
    assert made.name.startswith("cryptocrunch-") and made.suffix in (".gz", ".pgdump")
    before = counts(app)
    with app.app_context():
        db.drop_all()  # lose everything
    refused = app.test_cli_runner().invoke(args=["restore", str(made), "--yes"])
    assert refused.exit_code == 0, refused.output
    markets, ticks, built, rolled = counts(app)
    assert markets == 20 and 20 * 500 <= ticks <= before[1]
    assert built == rolled > 0  # ticks and their rollups come from one moment
    if database_url.startswith("sqlite"):
        with app.app_context():
            path = db.engine.url.database
        assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_restore_refuses_a_database_with_data_unless_forced_and_bad_files(make_app, tmp_path, database_url):
    app = make_app()
    write(app, 0, 10)
    backup(app, "--to", str(tmp_path))
    [made] = list(tmp_path.glob("cryptocrunch-*"))
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["restore", str(made), "--yes"])
    assert refused.exit_code == 1 and "the database holds data" in refused.output
    write(app, 10, 10)
    forced = runner.invoke(args=["restore", str(made), "--yes", "--force"])
    assert forced.exit_code == 0, forced.output
    assert counts(app)[1] == 20 * 10  # back to the backup's ticks
    asked = runner.invoke(args=["restore", str(made), "--force"], input="n\n")
    assert asked.exit_code == 1 and "Aborted" in asked.output
    sqlite = database_url.startswith("sqlite")
    other = ("cryptocrunch-z.pgdump", b"", "is a PostgreSQL backup; this database is not")
    if not sqlite:
        other = ("cryptocrunch-z.sqlite.gz", b"", "is a SQLite backup; this database is not")
    cases = [other, ("notes.txt", b"", "not a cryptocrunch backup")]
    if sqlite:
        cases += [
            ("cryptocrunch-x.sqlite.gz", b"not gzip", "not a readable backup"),
            ("cryptocrunch-y.sqlite.gz", gzip.compress(b"not sqlite"), "not a SQLite database"),
        ]
    else:
        cases += [("cryptocrunch-x.pgdump", b"not a dump", "pg_restore failed")]
    for name, content, message in cases:
        bad = tmp_path / name
        bad.write_bytes(content)
        answer = runner.invoke(args=["restore", str(bad), "--yes", "--force"])
        assert answer.exit_code == 1 and message in answer.output, answer.output
    assert counts(app)[1] == 20 * 10  # a bad file changed nothing
    missing = runner.invoke(args=["restore", str(tmp_path / "none.sqlite.gz"), "--yes"])
    assert missing.exit_code == 1 and "no such file" in missing.output


SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_keep_removes_the_oldest_in_a_folder_and_on_s3(make_app, tmp_path, s3):  # noqa: F811
    app = make_app(EXPORT_S3_ENDPOINT_URL=s3.endpoint)
    write(app, 0, 5)
    for _ in range(3):
        backup(app, "--to", str(tmp_path / "kept"), "--keep", "2")
    kept = sorted(p.name for p in (tmp_path / "kept").iterdir())
    assert len(kept) == 2
    for _ in range(3):
        line = backup(app, "--to", f"s3://{s3.bucket}/nightly", "--keep", "2")
        assert f"s3://{s3.bucket}/nightly/cryptocrunch-" in line
    keys = sorted(s3.keys())
    assert len(keys) == 2 and all(k.startswith("nightly/cryptocrunch-") for k in keys)
    body = s3.client.get_object(Bucket=s3.bucket, Key=keys[-1])["Body"].read()
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(gzip.decompress(body))
    assert sqlite3.connect(copy).execute("SELECT count(*) FROM tick").fetchone() == (5 * 20,)

    # restored straight from the bucket (downloaded first) into an empty database
    empty = make_app(EXPORT_S3_ENDPOINT_URL=s3.endpoint)
    runner = empty.test_cli_runner()
    restored = runner.invoke(args=["restore", f"s3://{s3.bucket}/{keys[-1]}", "--yes"])
    assert restored.exit_code == 0 and "restored cryptocrunch-" in restored.output, restored.output
    assert counts(empty) == counts(app)
    for url, message in [
        (f"s3://{s3.bucket}/nightly/cryptocrunch-19990101T000000000000Z.sqlite.gz", "no such object"),
        (f"s3://{s3.bucket}", "names no object"),
    ]:
        answer = runner.invoke(args=["restore", url, "--yes", "--force"])
        assert answer.exit_code == 1 and message in answer.output, answer.output
    wrong = app.test_cli_runner().invoke(args=["backup", "--to", "ftp://somewhere"])
    assert wrong.exit_code == 1 and "only local folders and s3://bucket/prefix" in wrong.output


@SQLITE_ONLY
def test_the_worker_s_backup_job(make_app, tmp_path):
    from cryptocrunch.worker.jobs import Sources, run_job

    app = make_app(BACKUP_TO=str(tmp_path / "nightly"), BACKUP_KEEP=1)
    write(app, 0, 5)
    sources = Sources(app)
    for _ in range(2):
        run = run_job(app, "backup", sources)
        assert run.status == "ok", run.error
    assert len(list(Path(tmp_path / "nightly").iterdir())) == 1
