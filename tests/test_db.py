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


def test_init_db_builds_levels_added_since_the_database_was_written(app, runner):
    """A database of 5-minute, hour, day and week rollups gets the 15-minute and 6-hour levels over
    its whole history, the same rows (and watermarks) the writes would have built."""
    from cryptocrunch.clock import HOUR, MINUTE
    from cryptocrunch.models import Rollup, State
    from cryptocrunch.sources.base import Tick
    from cryptocrunch.storage.ticks import store_ticks

    added = (15 * MINUTE, 6 * HOUR)
    keys = [f"rollup:{span}:closed" for span in added]
    ticks = [
        Tick(exchange, "BTC/USD", 1_700_000_000_000 + i * 170_000 + shift, 100.0 + (i * 7919) % 13)
        for i in range(2_000)
        for exchange, shift in (("kraken", 0), ("bitstamp", 61_000))
    ]
    with app.app_context():
        for lo in range(0, len(ticks), 300):
            store_ticks(db.session, ticks[lo : lo + 300])
        db.session.commit()
        rows = sa.select(Rollup.__table__).where(Rollup.span.in_(added))
        before = sorted(tuple(r) for r in db.session.execute(rows))
        watermarks = dict(
            db.session.execute(sa.select(State.key, State.value).where(State.key.in_(keys))).all()
        )
        assert len(before) > 200 and len(watermarks) == 2
        db.session.execute(sa.delete(Rollup).where(Rollup.span.in_(added)))  # as before the two levels
        db.session.execute(sa.delete(State).where(State.key.in_(keys)))
        db.session.commit()

    assert runner.invoke(args=["init-db"]).exit_code == 0

    with app.app_context():
        assert sorted(tuple(r) for r in db.session.execute(rows)) == before
        assert dict(
            db.session.execute(sa.select(State.key, State.value).where(State.key.in_(keys))).all()
        ) == (watermarks)


def test_init_db_rekeys_rollups_of_a_database_keyed_by_market(app, runner):
    """Rollups written under the (market, span, start) key of earlier versions get the time-first
    key and the by-market index, every row kept, and read the same statistics."""
    from cryptocrunch.clock import MINUTE
    from cryptocrunch.models import Rollup
    from cryptocrunch.sources.base import Tick
    from cryptocrunch.storage.ticks import store_ticks, window_summaries

    ticks = [
        Tick(exchange, "BTC/USD", 1_700_000_000_000 + i * 7 * MINUTE + shift, 100.0 + (i * 7919) % 13)
        for i in range(1_500)
        for exchange, shift in (("kraken", 0), ("bitstamp", 61_000))
    ]
    window = (1_700_000_000_000 + 3 * 3_600_000 + 17 * MINUTE, 1_700_000_000_000 + 150 * 3_600_000)
    with app.app_context():
        store_ticks(db.session, ticks)
        db.session.commit()
        rows = sorted(tuple(r) for r in db.session.execute(sa.select(Rollup.__table__)))
        ids = sorted({r[0] for r in rows})
        before = window_summaries(db.session, ids, *window)
        db.session.commit()  # PostgreSQL: no read lock left on the table dropped below
        # the table as earlier versions created it: keyed by market first, no by-market index
        old = sa.MetaData()
        sa.Table(
            "rollup",
            old,
            *(sa.Column(c.name, c.type, nullable=c.nullable) for c in Rollup.__table__.columns),
            sa.PrimaryKeyConstraint("market_id", "span", "start"),
            sqlite_with_rowid=False,
        )
        Rollup.__table__.drop(db.engine)
        old.create_all(db.engine)
        with db.engine.begin() as conn:
            conn.execute(
                old.tables["rollup"].insert(),
                [dict(zip(Rollup.__table__.columns.keys(), r, strict=True)) for r in rows],
            )
        inspector = sa.inspect(db.engine)
        assert inspector.get_pk_constraint("rollup")["constrained_columns"] == ["market_id", "span", "start"]
        db.session.remove()

    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output

    with app.app_context():
        inspector = sa.inspect(db.engine)
        assert inspector.get_pk_constraint("rollup")["constrained_columns"] == ["span", "start", "market_id"]
        [index] = inspector.get_indexes("rollup")
        assert index["name"] == "ix_rollup_market"
        assert index["column_names"][:3] == ["market_id", "span", "start"]
        assert sorted(tuple(r) for r in db.session.execute(sa.select(Rollup.__table__))) == rows
        after = window_summaries(db.session, ids, *window)
        assert after.equals(before) and (after["n"] > 100).all()
        assert "rollup_rekeyed" not in sa.inspect(db.engine).get_table_names()  # the copy's source
    assert runner.invoke(args=["init-db"]).exit_code == 0  # again: nothing to rekey


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
