"""What the benchmarks share: the database they run on (``--db``) and the smoke mode's verdict.

``--db`` takes a SQLite file path (reused when it exists, where the benchmark says so) or a
``postgresql+psycopg://`` URL: the benchmark then runs in a fresh schema of that database, dropped
when it ends, so a run never sees another's rows. ``--smoke`` runs every code path on a small data
set in seconds and does not hold the figures to the bars (a loaded CI machine says nothing about
speed); it fails only when something breaks.
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from pathlib import Path

import sqlalchemy as sa

POSTGRES_SCHEMES = ("postgresql://", "postgresql+psycopg://")


def is_postgres(db: str | None) -> bool:
    return db is not None and db.startswith(POSTGRES_SCHEMES)


def database(db: str | None, default: Path, stack: ExitStack, keep: str | None = None) -> tuple[str, str]:
    """(SQLAlchemy URL, "SQLite" or "PostgreSQL") for ``--db``: a SQLite file (``default`` when
    ``db`` is None), or a fresh schema in the PostgreSQL database ``db`` names, dropped on exit
    (``keep``: the schema of that name, created if missing and kept, to be reused)."""
    if not is_postgres(db):
        path = Path(db) if db else default
        return f"sqlite:///{path.resolve()}", "SQLite"
    assert db is not None
    url = db.replace("postgresql://", "postgresql+psycopg://", 1)
    if keep is not None and not keep.isidentifier():
        raise SystemExit(f"--keep-schema must be a plain identifier, got {keep!r}")
    schema = keep or f"bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")

    def drop() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")

    if keep is None:
        stack.callback(drop)
    stack.callback(engine.dispose)
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}", "PostgreSQL"


def verdict(ok: bool, smoke: bool) -> str:
    """PASS/FAIL against a bar; ``(smoke: not held to the bar)`` in smoke mode."""
    if smoke:
        return "(smoke: bar not held)"
    return "PASS" if ok else "FAIL"
