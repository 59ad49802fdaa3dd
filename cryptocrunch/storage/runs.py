"""Runs, rejections, cooldowns and the data version: what the collector did, what it refused,
which sources wait, and the counter every write bumps so readers (and caches) know something changed."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import AlertRule, Rejection, Run, State, User

if TYPE_CHECKING:
    from ..sources.base import Rejection as RejectionValue


def add_runs(session: Session, runs: Sequence[Run]) -> None:
    """Record collection runs (their health is part of what readers see)."""
    session.add_all(runs)
    bump_version(session)


def active_cooldowns(session: Session, now: int) -> dict[str, int]:
    """Sources whose latest cooldown has not ended yet, with when it ends (epoch ms)."""
    rows = session.execute(
        select(Run.source, func.max(Run.cooldown_until)).where(Run.cooldown_until > now).group_by(Run.source)
    )
    return {source: until for source, until in rows if until is not None}


def recent_runs(session: Session, limit: int = 20, source: str | None = None) -> list[Run]:
    """The newest runs first."""
    query = select(Run).order_by(Run.started.desc(), Run.id.desc()).limit(limit)
    if source:
        query = query.where(Run.source == source)
    return list(session.scalars(query))


def latest_runs(session: Session) -> list[Run]:
    """The newest run of every source, by source name."""
    newest = select(Run.source, func.max(Run.id).label("id")).group_by(Run.source).subquery()
    return list(session.scalars(select(Run).join(newest, Run.id == newest.c.id).order_by(Run.source)))


def store_rejections(session: Session, rejections: Sequence[RejectionValue], ts: int, keep: int) -> None:
    """Keep rejected values and payloads (rejected at ``ts``) for the validation report, in the
    caller's transaction, then delete all but the newest ``keep`` of each source they came from."""
    if not rejections:
        return
    table = cast(sa.Table, Rejection.__table__)  # declarative models are typed with a FromClause here
    session.execute(
        sa.insert(table),
        [
            {"source": r.exchange, "endpoint": r.endpoint, "pair": r.pair, "reason": r.reason, "ts": ts}
            for r in rejections
        ],
    )
    newest_first = func.row_number().over(
        partition_by=table.c.source, order_by=(table.c.ts.desc(), table.c.id.desc())
    )
    ranked = (
        select(table.c.id, newest_first.label("place"))
        .where(table.c.source.in_(sorted({r.exchange for r in rejections})))
        .subquery()
    )
    session.execute(sa.delete(table).where(table.c.id.in_(select(ranked.c.id).where(ranked.c.place > keep))))
    bump_version(session)


def rejection_counts(session: Session, sources: Iterable[str], since: int) -> dict[str, int]:
    """How many rejections of each of ``sources`` are kept with ts >= ``since``."""
    rows = session.execute(
        select(Rejection.source, func.count())
        .where(Rejection.source.in_(list(sources)), Rejection.ts >= since)
        .group_by(Rejection.source)
    )
    return {source: count for source, count in rows}


def read_rejections(session: Session, source: str | None = None, limit: int = 100) -> list[Rejection]:
    """The newest kept rejections first (of one source, or all)."""
    query = select(Rejection).order_by(Rejection.ts.desc(), Rejection.id.desc()).limit(limit)
    if source:
        query = query.where(Rejection.source == source)
    return list(session.scalars(query))


def rejection_sources(session: Session) -> list[str]:
    """Sources with kept rejections, by name."""
    return list(session.scalars(select(Rejection.source).distinct().order_by(Rejection.source)))


#: Numbers and quoted values in a rejection reason: masked so reasons that differ only in the
#: offending value (``last is not positive: -1`` / ``: -3``, a timestamp, a line number) group.
_VALUE = re.compile(r"'[^']*'|\"[^\"]*\"|(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")


def reason_group(reason: str) -> str:
    """The reason with its values masked as ``…``: the key rejections are grouped by."""
    return _VALUE.sub("…", reason)


def rejection_summary(session: Session, source: str | None = None) -> list[dict[str, Any]]:
    """Kept rejections grouped by source, endpoint and reason (values masked: ``reason_group``), each
    with its count, newest time and newest example (pair and full reason); by source, then the
    largest group first."""
    count, newest = func.count().label("count"), func.max(Rejection.ts).label("last_ts")
    query = select(Rejection.source, Rejection.endpoint, Rejection.reason, Rejection.pair, count, newest)
    if source:
        query = query.where(Rejection.source == source)
    query = query.group_by(Rejection.source, Rejection.endpoint, Rejection.reason, Rejection.pair)
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    query = query.order_by(newest.desc(), func.max(Rejection.id).desc())
    for name, endpoint, reason, pair, n, last_ts in session.execute(query):
        key = (name, endpoint, reason_group(reason))
        group = groups.get(key)
        if group is None:  # newest first: the first row of a group is its example
            groups[key] = {
                "source": name,
                "endpoint": endpoint,
                "reason": key[2],
                "count": n,
                "last_ts": last_ts,
                "example_pair": pair,
                "example_reason": reason,
            }
        else:
            group["count"] += n
    return sorted(groups.values(), key=lambda g: (g["source"], -g["count"], -g["last_ts"], g["reason"]))


DATA_VERSION = "data_version"
#: ``State`` counter of the stored ticks alone (written, or deleted by retention): what a window's
#: statistics are computed from, so a ranking snapshot stays exact while it stays the same.
TICKS_VERSION = "ticks"


def bump_version(session: Session, key: str = DATA_VERSION) -> None:
    """Mark, in the writer's transaction, that what readers can see has changed (``key``: which
    counter; by default the data version)."""
    bumped = session.execute(sa.update(State).where(State.key == key).values(value=State.value + 1))
    if not cast(sa.CursorResult[Any], bumped).rowcount:  # an UPDATE's result is a CursorResult
        # Seeded with the clock so a recreated database never repeats an earlier version.
        session.add(State(key=key, value=time.time_ns() // 1_000_000))


def data_version(session: Session, key: str = DATA_VERSION) -> int:
    """A number that changes whenever stored ticks, book tops or runs change (or another value of
    ``State``, like the rules' version or the worker's heartbeat; 0 before it is first set)."""
    return session.scalar(select(State.value).where(State.key == key)) or 0


#: ``State`` counter of the alert rules' definitions: bumped by every ORM change of a rule or a
#: user (added, deleted, paused, resumed, an account disabled), not by evaluation's own writes of
#: the rules' state, so an evaluator may keep the definitions while it stays the same.
RULES_VERSION = "alert_rules"


def _rules_changed(session: Session, _context: object, _instances: object) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(o, AlertRule | User) for o in changed):
        bump_version(session, RULES_VERSION)


def track_rule_changes() -> None:
    """Bump RULES_VERSION in every flush that changes a rule or a user (once per process)."""
    if not sa.event.contains(Session, "before_flush", _rules_changed):
        sa.event.listen(Session, "before_flush", _rules_changed)


def rules_version(session: Session) -> int:
    """The alert rules' definition version (created, seeded with the clock, on first use)."""
    version = data_version(session, RULES_VERSION)
    if not version:
        bump_version(session, RULES_VERSION)
        session.flush()
        version = data_version(session, RULES_VERSION)
    return version


#: ``State`` key of the worker's heartbeat: when it last said it was alive (epoch ms; 0: stopped).
WORKER_SEEN = "worker_seen"


def set_state(session: Session, key: str, value: int) -> None:
    """Set a ``State`` value (the worker's heartbeat), in the caller's transaction."""
    updated = session.execute(sa.update(State).where(State.key == key).values(value=value))
    if not cast(sa.CursorResult[Any], updated).rowcount:
        session.add(State(key=key, value=value))


def last_success(session: Session) -> int | None:
    """When the newest successful run of a source (not a worker's job) finished."""
    return session.scalar(
        select(func.max(Run.finished)).where(Run.status == "ok", ~Run.source.startswith("job:"))
    )
