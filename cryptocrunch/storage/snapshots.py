"""Ranking snapshots: every market's summary over each standard window ending now (1h, 24h, 7d,
30d, all), computed after the collector writes, so a ranking over every market reads one row per
market instead of its rollups and the raw ticks at the window's edge.

A snapshot is exact for one window start (the minute it was computed for) and one ticks version
(``runs.TICKS_VERSION``): ``read`` returns it only while both still hold — a later minute or new
ticks make it stale, and the caller computes the window live."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..analysis import stats
from ..clock import MINUTE, OPEN_END
from ..models import Market, Snapshot, State
from .bulk import fetch_floats, insert_rows
from .runs import TICKS_VERSION, data_version, set_state
from .ticks import summary_rows, window_summaries

COLUMNS = ("market_id", *stats.SUMMARY_COLUMNS)


def _keys(name: str) -> tuple[str, str]:
    """The ``State`` keys of window ``name``'s snapshot: its start, and the ticks version."""
    return f"snapshot:{name}:start", f"snapshot:{name}:ticks"


def _as_of(session: Session, name: str) -> tuple[int | None, int | None]:
    start_key, version_key = _keys(name)
    values = dict(session.execute(select(State.key, State.value).where(State.key.in_(_keys(name)))).all())
    return values.get(start_key), values.get(version_key)


def start_of(length: int | None, now: int) -> int:
    """The start of a window of ``length`` ms ending now (None: all of history), at ``now``
    floored to the minute, as the windows of a request."""
    return 0 if length is None else now // MINUTE * MINUTE - length


def refresh(session: Session, windows: Mapping[str, int | None], now: int) -> list[str]:
    """Recompute the snapshot of each of ``windows`` (name: length) that is not current for the
    minute of ``now`` and the stored ticks, in the caller's transaction; the names refreshed."""
    version = data_version(session, TICKS_VERSION)
    done = []
    markets: list[int] | None = None
    for name, length in windows.items():
        start = start_of(length, now)
        if _as_of(session, name) == (start, version):
            continue
        if markets is None:
            markets = list(session.scalars(select(Market.id).order_by(Market.id)))
        summaries = window_summaries(session, markets, start, OPEN_END)
        session.execute(delete(Snapshot).where(Snapshot.window == name))
        rows = [(name, *row) for row in summary_rows(summaries, COLUMNS)]
        insert_rows(session, Snapshot, ("window", *COLUMNS), rows, replace=True)
        start_key, version_key = _keys(name)
        set_state(session, start_key, start)
        set_state(session, version_key, version)
        done.append(name)
    return done


def read(session: Session, name: str, start: int, columns: Sequence[str] = COLUMNS) -> pd.DataFrame | None:
    """The snapshot of window ``name`` (``columns``, market_id first; one row per market with
    ticks in it, by market) if it is exact for a window from ``start`` over the ticks stored
    now; else None."""
    current = (start, data_version(session, TICKS_VERSION))
    if _as_of(session, name) != current:
        return None
    query = (
        select(*(getattr(Snapshot, c) for c in columns))
        .where(Snapshot.window == name)
        .order_by(Snapshot.market_id)
    )
    frame = pd.DataFrame(fetch_floats(session, query, len(columns)), columns=list(columns))
    if _as_of(session, name) != current:  # refreshed while it was read: the rows may be newer
        return None
    return frame.astype({"market_id": "int64"})
