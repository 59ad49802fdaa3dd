"""Every benchmark's smoke mode runs to the end on SQLite and on PostgreSQL (--db), prints the
database it measured, and leaves no schema behind in the PostgreSQL database. Speed is not
asserted here: the figures are the benchmarks' own business (README "Benchmarks")."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import POSTGRES_URL, _postgres_available, need

BENCH = Path(__file__).resolve().parents[1] / "bench"
#: The benchmarks that read or write the database, each with its smoke mode.
BENCHES = ("stats", "ops", "alerts", "collect", "ingest", "api")


def bench_schemas() -> set[str]:
    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, 'bench_')")
            return set(conn.execute(query).scalars())
    finally:
        engine.dispose()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
@pytest.mark.parametrize("bench", BENCHES)
def test_the_smoke_mode_runs_on_each_database(bench, database):
    command = [sys.executable, str(BENCH / f"{bench}.py"), "--smoke"]
    if bench == "api":
        need(shutil.which("wrk") is not None, "bench/api.py drives wrk: apt-get install wrk")
    before: set[str] = set()
    if database == "postgresql":
        problem = _postgres_available()
        need(problem is None, problem or "")
        before = bench_schemas()
        command += ["--db", POSTGRES_URL]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert ("PostgreSQL" if database == "postgresql" else "SQLite") in done.stdout, done.stdout
    if database == "postgresql":
        assert bench_schemas() == before  # its schema was dropped
