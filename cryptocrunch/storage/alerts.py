"""Alert events and their outbox (one delivery row per event and channel), and the channels that
get the operator's system events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import AlertEvent, AlertRule, AlertRuleChannel, Channel, Delivery, User


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


def add_event(
    session: Session,
    user_id: int,
    kind: str,
    ts: int,
    title: str,
    message: str,
    channel_ids: Sequence[int],
    now: int,
    rule_id: int | None = None,
    observed: float | None = None,
) -> AlertEvent:
    """Record an event and queue it for each of ``channel_ids``, in the caller's transaction."""
    event = AlertEvent(
        user_id=user_id,
        rule_id=rule_id,
        observed=observed,
        kind=kind,
        ts=ts,
        created=now,
        title=title,
        message=message,
    )
    session.add(event)
    session.flush()
    session.add_all(
        Delivery(event_id=event.id, channel_id=c, status="pending", tries=0, next_try=now)
        for c in channel_ids
    )
    session.flush()
    return event


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


def live_rules(session: Session, pairs: Iterable[str]) -> list[AlertRule]:
    """Rules of enabled users on ``pairs`` that may still fire (not paused, done or expired)."""
    return list(
        session.scalars(
            select(AlertRule)
            .join(User, User.id == AlertRule.user_id)
            .where(
                AlertRule.pair.in_(sorted(set(pairs))),
                AlertRule.paused.is_(False),
                AlertRule.state.in_([0, 1, 2]),
                User.disabled.is_(False),
            )
            .order_by(AlertRule.id)
        )
    )


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


def sent_since(session: Session, user_id: int, since: int) -> int:
    """How many rule events of the user were recorded since ``since`` (the storm guard's count)."""
    return (
        session.scalar(
            select(func.count()).where(
                AlertEvent.user_id == user_id, AlertEvent.kind == "rule", AlertEvent.created >= since
            )
        )
        or 0
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
