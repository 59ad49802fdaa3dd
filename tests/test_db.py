"""flask init-db: creates what is missing, keeps data, drops only when confirmed."""

import subprocess
import sys

import sqlalchemy as sa

from cryptocrunch.db import db
from cryptocrunch.models import Exchange


def count_exchanges(app):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Exchange))


def add_exchange(app):
    with app.app_context():
        db.session.add(Exchange(name="kraken"))
        db.session.commit()


def test_init_db_creates_every_table(app, runner):
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "Initialized the database" in result.output
    with app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
    assert {"exchange", "market", "tick", "book_top", "run"} <= tables


def test_init_db_again_keeps_the_data(app, runner):
    add_exchange(app)
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert count_exchanges(app) == 1


def test_drop_asks_first_and_keeps_data_when_refused(app, runner):
    add_exchange(app)
    result = runner.invoke(args=["init-db", "--drop"], input="n\n")
    assert result.exit_code == 1
    assert "Aborted" in result.output
    assert count_exchanges(app) == 1


def test_drop_with_yes_empties_the_database(app, runner):
    add_exchange(app)
    result = runner.invoke(args=["init-db", "--drop", "--yes"])
    assert result.exit_code == 0, result.output
    assert count_exchanges(app) == 0


def test_init_db_builds_rollups_for_ticks_stored_before_them(app, runner):
    from cryptocrunch.models import Rollup
    from cryptocrunch.sources.base import Tick
    from cryptocrunch.storage.ticks import store_ticks

    ticks = [Tick("kraken", "BTC/USD", 1_700_000_000_000 + i * 600_000, 100.0 + i % 7) for i in range(300)]
    with app.app_context():
        store_ticks(db.session, ticks)
        db.session.commit()
        before = sorted(tuple(r) for r in db.session.execute(sa.select(Rollup.__table__)))
        db.session.execute(sa.delete(Rollup))  # as if the ticks predated the rollup table
        db.session.commit()

    result = runner.invoke(args=["init-db"])

    assert result.exit_code == 0, result.output
    assert "Built the rollups of 1 market stored before them" in result.output
    with app.app_context():
        assert sorted(tuple(r) for r in db.session.execute(sa.select(Rollup.__table__))) == before
    assert "Built the rollups" not in runner.invoke(args=["init-db"]).output


def test_sqlite_needs_no_psycopg(tmp_path):
    """psycopg is the postgres extra's: on SQLite, init-db, writes, retention and the partitions job
    run in a process where importing it fails."""
    script = f"""
import sys
sys.modules["psycopg"] = None  # import psycopg raises ImportError
from cryptocrunch import create_app
from cryptocrunch.db import db, init_db
from cryptocrunch.sources.base import Tick
from cryptocrunch.storage.prune import prune
from cryptocrunch.storage.ticks import store_ticks
from cryptocrunch.worker import jobs
app = create_app({{"INSTANCE_PATH": {str(tmp_path)!r}}})
with app.app_context():
    init_db()
    store_ticks(db.session, [Tick("kraken", "BTC/USD", 10**12 + i * 60_000, 100.0 + i) for i in range(10)])
    db.session.commit()
    print("pruned", prune(db.session, "tick", 10**12 + 5 * 60_000, 100))
    print(jobs._partitions(app, None).lines[0])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["pruned 5", "partitions   SQLite: tick is not partitioned"]
