"""Ticks on PostgreSQL, partitioned by month: init-db makes the partitioned table (and migrates an
unpartitioned one, keeping every row), writes land in their month (far past or future in DEFAULT,
until the partitions job gives them months), retention drops whole months and deletes only the
rows of the month straddling its cut, and the COPY write path stores and counts exactly what an
INSERT ... ON CONFLICT executemany (the path before it) does."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from cryptocrunch.clock import DAY, HOUR, now_ms
from cryptocrunch.db import db
from cryptocrunch.models import Tick
from cryptocrunch.sources.base import Tick as TickValue
from cryptocrunch.storage import partitions
from cryptocrunch.storage.bulk import Stored, insert_rows
from cryptocrunch.storage.markets import market_ids
from cryptocrunch.storage.runs import TICKS_VERSION
from cryptocrunch.storage.ticks import TICK_COLUMNS, store_ticks
from cryptocrunch.worker.jobs import run_job

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def ms(*day: int) -> int:
    return int(datetime(*day, tzinfo=UTC).timestamp() * 1000)


def sql(app, statement: str, **params) -> list[tuple]:
    with app.app_context():
        result = db.session.execute(sa.text(statement), params)
        rows = [tuple(r) for r in result] if result.returns_rows else []
        db.session.commit()
        return rows


def attached(app) -> set[str]:
    """The partitions of tick, by pg_inherits."""
    return {
        name
        for (name,) in sql(
            app,
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass('tick')",
        )
    }


def placed(app) -> dict[int, str]:
    """Each stored tick's ts and the partition holding it (tableoid)."""
    return dict(sql(app, "SELECT ts, tableoid::regclass::text FROM tick"))


def store(app, stamps, pair="BTC/USD") -> None:
    with app.app_context():
        store_ticks(db.session, [TickValue("kraken", pair, t, 100.0 + t % 7) for t in stamps])
        db.session.commit()


def all_ticks(app) -> list[tuple]:
    return sql(app, "SELECT * FROM tick ORDER BY market_id, ts")


def test_init_db_partitions_tick_by_month_with_a_default_and_the_months_around_now(app):
    [(strategy, key)] = sql(
        app,
        "SELECT p.partstrat, a.attname FROM pg_partitioned_table p JOIN pg_attribute a"
        " ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]"
        " WHERE p.partrelid = to_regclass('tick')",
    )
    assert (strategy, key) == ("r", "ts")
    now = now_ms()
    this = partitions.month_start(now)
    months = [partitions.month_start(this - 1), this]
    for _ in range(partitions.AHEAD):
        months.append(partitions.next_month(months[-1]))
    assert attached(app) == {"tick_default", *(partitions.month_name(m) for m in months)}
    assert len(months) == 4
    assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0  # again: nothing changes
    assert len(attached(app)) == 5


def test_writes_land_in_their_month_and_far_past_or_future_never_fail(app):
    this = partitions.month_start(now_ms())
    edges = [this - 1, this, partitions.next_month(this) + 12 * DAY, partitions.next_month(this) - 1]
    far = [1, ms(1999, 12, 31, 23, 59, 59), ms(2400, 2, 1), 2**62]  # 2**62 ms: no calendar names it
    store(app, edges + far)
    where = placed(app)
    for ts in edges:
        assert where[ts] == partitions.month_name(partitions.month_start(ts)), ts
    assert {where[ts] for ts in far} == {"tick_default"}

    run = run_job(app, "partitions", None)  # the worker's job: the strays get months of their own,
    assert run.status == "ok", run.error  # but not those older than RETENTION (90d): they will go
    where = placed(app)
    assert where[ms(2400, 2, 1)] == "tick_p240002"
    assert where[1] == where[ms(1999, 12, 31, 23, 59, 59)] == where[2**62] == "tick_default"
    with app.app_context():
        lines = partitions.maintain(db.session(), now_ms())  # kept forever: they get months too
    assert lines == [
        "partitions   created tick_p197001, moved 1 row into it from tick_default",
        "partitions   created tick_p199912, moved 1 row into it from tick_default",
    ]
    where = placed(app)
    assert where[1] == "tick_p197001" and where[ms(1999, 12, 31, 23, 59, 59)] == "tick_p199912"
    assert where[2**62] == "tick_default" and len(where) == 8
    assert run_job(app, "partitions", None).status == "ok"  # nothing missing now
    store(app, [ms(1999, 12, 1), ms(2400, 2, 5)])  # into the new months, duplicates skipped
    assert placed(app)[ms(2400, 2, 5)] == "tick_p240002"
    with app.app_context():
        again = store_ticks(db.session, [TickValue("kraken", "BTC/USD", t, 1.0) for t in edges + far])
        db.session.commit()
    assert (again.stored, again.duplicates) == (0, 8)


def ticks_version(app) -> int:
    return sql(app, "SELECT value FROM state WHERE key = :key", key=TICKS_VERSION)[0][0]


def test_retention_drops_whole_months_and_deletes_only_the_straddling_rows(make_app):
    app = make_app(RETENTION={"tick": "45d"}, RETENTION_BATCH=50)
    now = now_ms() // HOUR * HOUR
    stamps = range(now - 100 * DAY, now, 6 * HOUR)
    for pair in ("BTC/USD", "ETH/USD"):
        store(app, stamps, pair)
    with app.app_context():
        partitions.maintain(db.session(), now)  # the months before last month, out of DEFAULT
    before = placed(app)
    assert "tick_default" not in before.values()
    version = ticks_version(app)

    result = app.test_cli_runner().invoke(args=["retention"])

    assert result.exit_code == 0, result.output
    shown = re.search(r"tick +deleted ([\d,]+) rows before (\S+ \S+) UTC", result.output)
    assert shown, result.output
    cut = int(datetime.fromisoformat(shown[2]).replace(tzinfo=UTC).timestamp() * 1000)
    assert cut == (now - 45 * DAY) // HOUR * HOUR or cut == (now - 45 * DAY) // HOUR * HOUR + HOUR
    straddling = partitions.month_name(partitions.month_start(cut))
    gone = {p for p in set(before.values()) if p < straddling}
    assert len(gone) >= 1 and not gone & attached(app)  # whole months dropped, not emptied
    after = placed(app)
    assert int(shown[1].replace(",", "")) == 2 * sum(1 for t in stamps if t < cut)
    assert after == {ts: p for ts, p in before.items() if ts >= cut}  # the rest untouched
    assert any(p == straddling for ts, p in before.items() if ts < cut)  # it held rows before the cut
    assert straddling in attached(app)
    assert ticks_version(app) > version
    again = app.test_cli_runner().invoke(args=["retention"])
    assert "tick         deleted 0 rows" in again.output


OLD_TICK = """
CREATE TABLE tick (
    market_id INTEGER NOT NULL, ts BIGINT NOT NULL, last FLOAT NOT NULL, bid FLOAT, ask FLOAT,
    base_volume FLOAT, quote_volume FLOAT,
    PRIMARY KEY (market_id, ts), FOREIGN KEY(market_id) REFERENCES market (id)
)"""


def test_init_db_partitions_an_unpartitioned_tick_table_keeping_every_row(app):
    sql(app, "DROP TABLE tick")
    sql(app, OLD_TICK)  # as an older version created it
    assert not attached(app)
    stamps = [ms(2024, 1, 1) + i * 7 * HOUR for i in range(400)] + [1, 2**62]  # into 2024-01..04
    store(app, stamps)
    store(app, stamps[::5], "ETH/USD")
    with app.app_context():
        db.session.execute(sa.update(Tick).where(Tick.ts == 1).values(bid=math.nan))
        db.session.commit()
    before = all_ticks(app)
    rollups = sql(app, "SELECT * FROM rollup ORDER BY 1, 2, 3")

    result = app.test_cli_runner().invoke(args=["init-db"])

    assert result.exit_code == 0, result.output
    assert sql(app, "SELECT relkind FROM pg_class WHERE oid = to_regclass('tick')") == [("p",)]
    assert sql(app, "SELECT to_regclass('tick_unpartitioned')") == [(None,)]
    after = all_ticks(app)
    assert len(after) == len(before) == 402 + 81
    assert [repr(r) for r in after] == [repr(r) for r in before]  # NaN too
    where = placed(app)
    assert where[ms(2024, 1, 1)] == "tick_p202401" and where[stamps[399]] == "tick_p202404"
    assert where[1] == "tick_p197001" and where[2**62] == "tick_default"
    assert sql(app, "SELECT * FROM rollup ORDER BY 1, 2, 3") == rollups
    store(app, [ms(2024, 2, 1) + 1])  # the new table takes writes, keys and the foreign key hold
    assert placed(app)[ms(2024, 2, 1) + 1] == "tick_p202402"
    assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0  # and again: no change
    assert len(all_ticks(app)) == 484


def reference_insert(app, rows, replace=False) -> int:
    """What the INSERT path (before COPY) did: executemany of INSERT ... ON CONFLICT, one row each."""
    table = Tick.__table__
    stmt = postgresql.insert(table).values({c: sa.bindparam(c) for c in TICK_COLUMNS})
    keys = ["market_id", "ts"]
    if replace:
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={c: stmt.excluded[c] for c in TICK_COLUMNS if c not in keys}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    with app.app_context():
        conn = db.session.connection()
        compiled = stmt.compile(dialect=conn.dialect)
        params = [dict(zip(TICK_COLUMNS, row, strict=True)) for row in rows]
        stored = conn.exec_driver_sql(str(compiled), params).rowcount
        db.session.commit()
        return stored


def copied(app, rows, replace=False) -> tuple[int, int]:
    with app.app_context():
        done = insert_rows(db.session, Tick, TICK_COLUMNS, rows, replace=replace)
        db.session.commit()
        return done.stored, done.duplicates


def stored_rows(app, market: int) -> list[str]:
    found = sql(app, "SELECT * FROM tick WHERE market_id = :m ORDER BY ts", m=market)
    return [repr(row[1:]) for row in found]  # repr: NaN equals NaN


def test_the_copy_path_stores_and_counts_what_the_insert_path_does(app):
    with app.app_context():
        ids = market_ids(db.session, {("kraken", "BTC/USD"), ("bitstamp", "BTC/USD")})
        db.session.commit()
    copy_market, insert_market = ids["kraken", "BTC/USD"], ids["bitstamp", "BTC/USD"]
    this = partitions.month_start(now_ms())
    nan = math.nan

    def batch(market, price):
        return [
            (market, this + 1000, 101.5, 101.0, 102.0, 3.5, None),
            (market, this + 2000, price, nan, None, None, nan),  # NaN and None as they come
            (market, this + 2000, 999.0, 1.0, 1.0, 1.0, 1.0),  # a duplicate within the batch
            (market, this - 5 * DAY, 99.0, None, None, 0.0, 12.25),  # last month
            (market, 7, 1e-12, 2.0, 3.0, 4.0, 5.0),  # 1970: into DEFAULT
        ]

    first = [(copy_market, this + 1000, 50.0, None, None, None, None)]
    assert copied(app, first) == (1, 0) and reference_insert(app, [(insert_market, *first[0][1:])]) == 1
    stored = reference_insert(app, batch(insert_market, 100.0))
    assert copied(app, batch(copy_market, 100.0)) == (stored, 5 - stored) == (3, 2)
    assert stored_rows(app, copy_market) == stored_rows(app, insert_market)
    assert copied(app, batch(copy_market, 100.0)) == (0, 5)  # all stored: every one a duplicate

    # replace=True upserts: stored rows overwritten, the last of a key within the batch wins
    replaced = reference_insert(app, batch(insert_market, 200.0), replace=True)
    assert copied(app, batch(copy_market, 200.0), replace=True) == (replaced, 5 - replaced) == (5, 0)
    assert stored_rows(app, copy_market) == stored_rows(app, insert_market)
    newest = "SELECT last, bid FROM tick WHERE market_id = :m AND ts = :t"
    assert sql(app, newest, m=copy_market, t=this + 2000) == [(999.0, 1.0)]
    assert copied(app, []) == (0, 0)


def test_a_copy_straight_into_tick_falls_back_on_a_stored_key_and_keeps_the_transaction(app):
    """All-new rows COPY straight into tick; a batch with a stored key (or one twice) rolls back
    to its savepoint and is staged instead: what the transaction wrote before stays, the counts
    are the INSERT path's, and the next all-new batch is staged once more, then goes straight
    again."""
    with app.app_context():
        [market] = market_ids(db.session, {("kraken", "BTC/USD")}).values()
        db.session.commit()
    this = partitions.month_start(now_ms())

    def row(offset, price=1.0):
        return (market, this + offset, price, None, None, None, None)

    with app.app_context():
        session = db.session
        staged = session.connection().connection.info.setdefault("copy_staged", {})
        assert insert_rows(session, Tick, TICK_COLUMNS, [row(1), row(2)]) == Stored(2, 0)
        assert not staged.get("tick")  # straight in
        clash = [row(3), row(2, 9.0), row(4), row(4, 8.0)]  # a stored key and one twice
        assert insert_rows(session, Tick, TICK_COLUMNS, clash) == Stored(2, 2)
        assert staged["tick"]
        assert insert_rows(session, Tick, TICK_COLUMNS, [row(5)]) == Stored(1, 0)  # staged, none found
        assert not staged["tick"]
        assert insert_rows(session, Tick, TICK_COLUMNS, [row(6)]) == Stored(1, 0)
        session.commit()
    assert sql(app, "SELECT ts - :t, last FROM tick ORDER BY ts", t=this) == [
        (1, 1.0),
        (2, 1.0),
        (3, 1.0),
        (4, 1.0),
        (5, 1.0),
        (6, 1.0),
    ]
