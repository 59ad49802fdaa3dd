"""Alert events and their outbox (one delivery row per event and channel), and the channels that
get the operator's system events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from ..models import AlertEvent, AlertRule, AlertRuleChannel, AlertWatch, Channel, Delivery, User
from .bulk import fetch_floats, fetch_rows, insert_rows


def operator_channels(session: Session) -> list[Channel]:
    """Channels of enabled admins marked for system events."""
    return list(
        session.scalars(
            select(Channel)
            .join(User, User.id == Channel.user_id)
            .where(Channel.system_events.is_(True), User.is_admin.is_(True), User.disabled.is_(False))
            .order_by(Channel.id)
        )
    )


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to record, and the channels it goes to (none when ``held`` or unsubscribed)."""

    user_id: int
    kind: str
    ts: int
    title: str
    message: str
    channels: Sequence[int] = ()
    rule_id: int | None = None
    observed: float | None = None
    held: bool = False


def add_events(
    session: Session, new: Sequence[NewEvent], now: int, next_try: int | None = None
) -> list[AlertEvent]:
    """Record events and queue each for its channels (due at ``next_try``, default ``now``), in the
    caller's transaction: one insert of the events, one of their deliveries."""
    events = [
        AlertEvent(
            user_id=e.user_id,
            rule_id=e.rule_id,
            observed=e.observed,
            kind=e.kind,
            ts=e.ts,
            created=now,
            title=e.title,
            message=e.message,
            held=e.held,
        )
        for e in new
    ]
    session.add_all(events)
    session.flush()
    due = now if next_try is None else next_try
    session.add_all(
        Delivery(event_id=event.id, channel_id=c, status="pending", tries=0, next_try=due)
        for event, e in zip(events, new, strict=True)
        for c in dict.fromkeys(e.channels)
    )
    session.flush()
    return events


def add_deliveries(session: Session, event_id: int, channel_ids: Iterable[int], next_try: int) -> None:
    """Queue an event for more channels (those it is not queued for yet)."""
    queued = set(session.scalars(select(Delivery.channel_id).where(Delivery.event_id == event_id)))
    session.add_all(
        Delivery(event_id=event_id, channel_id=c, status="pending", tries=0, next_try=next_try)
        for c in dict.fromkeys(channel_ids)
        if c not in queued
    )


def due_deliveries(session: Session, now: int, limit: int) -> list[tuple[Delivery, Channel, AlertEvent]]:
    """Pending deliveries whose next try is due, oldest first, with their channel and event."""
    rows = session.execute(
        select(Delivery, Channel, AlertEvent)
        .join(Channel, Channel.id == Delivery.channel_id)
        .join(AlertEvent, AlertEvent.id == Delivery.event_id)
        .where(Delivery.status == "pending", Delivery.next_try <= now)
        .order_by(Delivery.next_try, Delivery.id)
        .limit(limit)
    )
    return [(delivery, channel, event) for delivery, channel, event in rows]


def user_events(session: Session, user_id: int, limit: int = 100) -> list[tuple[AlertEvent, list[Delivery]]]:
    """The user's newest events, each with its deliveries."""
    events = list(
        session.scalars(
            select(AlertEvent)
            .where(AlertEvent.user_id == user_id)
            .order_by(AlertEvent.id.desc())
            .limit(limit)
        )
    )
    deliveries: dict[int, list[Delivery]] = {e.id: [] for e in events}
    for delivery in session.scalars(select(Delivery).where(Delivery.event_id.in_(list(deliveries)))):
        deliveries[delivery.event_id].append(delivery)
    return [(event, deliveries[event.id]) for event in events]


def add_rule(session: Session, rule: AlertRule, channel_ids: Sequence[int]) -> AlertRule:
    """Store a new rule and the channels it notifies."""
    session.add(rule)
    session.flush()
    session.add_all(AlertRuleChannel(rule_id=rule.id, channel_id=c) for c in channel_ids)
    session.flush()
    return rule


def user_rules(session: Session, user_id: int) -> list[AlertRule]:
    """The user's rules, oldest first."""
    return list(session.scalars(select(AlertRule).where(AlertRule.user_id == user_id).order_by(AlertRule.id)))


def user_rule(session: Session, user_id: int, rule_id: int) -> AlertRule | None:
    """The user's rule with this id; None for anyone else's."""
    return session.scalar(select(AlertRule).where(AlertRule.id == rule_id, AlertRule.user_id == user_id))


#: what a rule is (the evaluator keeps these while ``runs.RULES_VERSION`` stays the same)
RULE_FIELDS = (
    "id",
    "user_id",
    "pair",
    "exchange",
    "kind",
    "op",
    "value",
    "window_ms",
    "timeframe",
    "fast",
    "slow",
    "repeat",
    "hysteresis_pct",
    "cooldown_ms",
    "expires",
    "note",
)


def set_paused(rule: AlertRule, paused: bool, now: int) -> None:
    """Pause a rule (it sees nothing), or resume it from ``now`` on: the ticks in between are
    skipped, not caught up."""
    if rule.paused and not paused:
        rule.seen = now
    rule.paused = paused


def rule_definitions(session: Session) -> pd.DataFrame:
    """``RULE_FIELDS`` of every rule of an enabled user that is not paused, by id (plain rows,
    straight from the cursor: there may be many)."""
    query = (
        select(*(getattr(AlertRule, f) for f in RULE_FIELDS))
        .join(User, User.id == AlertRule.user_id)
        .where(AlertRule.paused.is_(False), User.disabled.is_(False))
        .order_by(AlertRule.id)
    )
    frame = pd.DataFrame.from_records(fetch_rows(session, query), columns=list(RULE_FIELDS))
    text = ["exchange", "timeframe", "note"]
    frame[text] = frame[text].astype(object).where(frame[text].notna(), None)
    return frame


def rule_states(session: Session) -> np.ndarray:
    """(id, state, last_fired (NaN: never), seen) of every rule, by id, as a float64 array."""
    query = select(AlertRule.id, AlertRule.state, AlertRule.last_fired, AlertRule.seen).order_by(AlertRule.id)
    return fetch_floats(session, query, 4)


def watched_until(session: Session) -> dict[str, int]:
    """How far the evaluator has looked at each watched series (``AlertWatch``), by key."""
    return {key: int(seen) for key, seen in fetch_rows(session, select(AlertWatch.key, AlertWatch.seen))}


def save_watched(session: Session, seen: Mapping[str, int]) -> None:
    """Store how far each series has been looked at, in one executemany."""
    insert_rows(session, AlertWatch, ("key", "seen"), list(seen.items()), replace=True)


def save_states(session: Session, rows: Sequence[tuple[int, int | None, int, int]]) -> None:
    """Store rules' evaluation state, (state, last_fired, seen, id) each, in one executemany
    straight to the driver (a state is saved for most rules after every write)."""
    if not rows:
        return
    statement = (
        update(AlertRule)
        .where(AlertRule.id == bindparam("i"))
        .values(state=bindparam("s"), last_fired=bindparam("f"), seen=bindparam("n"))
    )
    conn = session.connection()
    compiled = statement.compile(dialect=conn.dialect)
    order = [{"s": 0, "f": 1, "n": 2, "i": 3}[name] for name in compiled.positiontup or ()]
    params: list[Any] = (
        [tuple(row[k] for k in order) for row in rows]
        if compiled.positional
        else [dict(zip("sfni", row, strict=True)) for row in rows]
    )
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(str(compiled), params)
    finally:
        cursor.close()


def rule_channels(session: Session, rule_ids: Iterable[int]) -> dict[int, list[int]]:
    """The channel ids of each rule."""
    found: dict[int, list[int]] = {}
    rows = session.execute(
        select(AlertRuleChannel.rule_id, AlertRuleChannel.channel_id).where(
            AlertRuleChannel.rule_id.in_(sorted(set(rule_ids)))
        )
    )
    for rule_id, channel_id in rows:
        found.setdefault(rule_id, []).append(channel_id)
    return found


def notified_since(session: Session, user_ids: Iterable[int], since: int) -> dict[int, tuple[int, int]]:
    """Per user, how many rule events queued for a channel were recorded since ``since`` and when
    the oldest of them was (the storm guard's count and when it frees a place)."""
    rows = session.execute(
        select(AlertEvent.user_id, func.count(AlertEvent.id), func.min(AlertEvent.created))
        .where(
            AlertEvent.user_id.in_(sorted(set(user_ids))),
            AlertEvent.kind == "rule",
            AlertEvent.created >= since,
            select(Delivery.id).where(Delivery.event_id == AlertEvent.id).exists(),
        )
        .group_by(AlertEvent.user_id)
    )
    return {user_id: (count, oldest) for user_id, count, oldest in rows}


def open_summary(session: Session, user_id: int, now: int) -> AlertEvent | None:
    """The user's storm-guard summary still waiting to be sent (none of its deliveries tried)."""
    waiting = (
        select(Delivery.id)
        .where(
            Delivery.event_id == AlertEvent.id,
            Delivery.status == "pending",
            Delivery.tries == 0,
            Delivery.next_try > now,
        )
        .exists()
    )
    return session.scalar(
        select(AlertEvent)
        .where(AlertEvent.user_id == user_id, AlertEvent.kind == "summary", waiting)
        .order_by(AlertEvent.id.desc())
        .limit(1)
    )


def rule_events(session: Session, rule_id: int, limit: int = 100) -> list[AlertEvent]:
    """A rule's events, newest first."""
    return list(
        session.scalars(
            select(AlertEvent)
            .where(AlertEvent.rule_id == rule_id)
            .order_by(AlertEvent.id.desc())
            .limit(limit)
        )
    )
