"""Alert events and their outbox (one delivery row per event and channel), and the channels that
get the operator's system events."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import AlertEvent, Channel, Delivery, User


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
) -> AlertEvent:
    """Record an event and queue it for each of ``channel_ids``, in the caller's transaction."""
    event = AlertEvent(user_id=user_id, kind=kind, ts=ts, created=now, title=title, message=message)
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
