"""A user's notification channels. Every read takes the owner: another user's id finds nothing."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Channel


def add_channel(
    session: Session, user_id: int, name: str, url_encrypted: str, url_display: str, now: int
) -> Channel:
    """A new channel (its URL already encrypted)."""
    channel = Channel(
        user_id=user_id, name=name, url_encrypted=url_encrypted, url_display=url_display, created=now
    )
    session.add(channel)
    session.flush()
    return channel


def user_channels(session: Session, user_id: int) -> list[Channel]:
    """The user's channels, oldest first."""
    return list(session.scalars(select(Channel).where(Channel.user_id == user_id).order_by(Channel.id)))


def user_channel(session: Session, user_id: int, channel_id: int) -> Channel | None:
    """The user's channel with this id; None for anyone else's."""
    return session.scalar(select(Channel).where(Channel.id == channel_id, Channel.user_id == user_id))


def delete_channel(session: Session, channel: Channel) -> None:
    """Delete one channel."""
    session.delete(channel)
    session.flush()
