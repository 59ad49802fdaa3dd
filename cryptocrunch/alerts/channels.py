"""Notification channels through Apprise: check a URL, show it without its secrets, send to it."""

from __future__ import annotations

from dataclasses import dataclass

import apprise
from sqlalchemy.orm import Session

from ..clock import now_ms
from ..models import Channel, User
from ..storage import channels
from .vault import SealError, seal, unseal

#: A test message says so, so nobody mistakes it for an alert.
TEST_TITLE = "cryptocrunch: test notification"
TEST_BODY = "This is a test from cryptocrunch: this channel works. No price alert was raised."


class ChannelError(ValueError):
    """A channel URL Apprise cannot use; the message says why."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """Whether a notification was accepted by the service, and why not."""

    delivered: bool
    error: str | None = None


def display_url(url: str) -> str:
    """The URL in Apprise's privacy form (passwords and tokens masked), for pages and logs;
    ChannelError when Apprise has no service for it."""
    service = apprise.Apprise.instantiate(url.strip())
    if service is None:
        scheme = url.split("://", 1)[0] if "://" in url else url[:20]
        raise ChannelError(
            f"url: Apprise cannot use {scheme!r}://… URLs (or the URL is malformed); see "
            "https://github.com/caronc/apprise/wiki for mailto://, json://, sns://, ntfy://, tgram://, ..."
        )
    return str(service.url(privacy=True))  # type: ignore[no-untyped-call]  # Apprise leaves url() unannotated


def send(url: str, title: str, body: str) -> Delivery:
    """Send one notification to ``url`` and say whether the service took it (Apprise's own warnings
    are the reason when not). Blocks: call it off the request and collect paths."""
    sender = apprise.Apprise()
    if not sender.add(url):
        return Delivery(False, "Apprise cannot use this URL")
    result = sender.notify(body=body, title=title)
    if result:
        return Delivery(True)
    reasons = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR")]
    return Delivery(False, "; ".join(reasons) or f"not delivered ({result.status.name.lower()})")


def create(
    session: Session,
    secret_key: str | bytes,
    user: User,
    name: str,
    url: str,
    system_events: bool = False,
) -> Channel:
    """Store a new channel of the user's: the URL checked, encrypted, and kept in privacy form;
    ``system_events`` (admins only) also sends it the operator's system events."""
    if system_events and not user.is_admin:
        raise ChannelError("system_events: only an admin's channels receive system events")
    url = url.strip()
    shown = display_url(url)
    channel = channels.add_channel(session, user.id, name.strip(), seal(secret_key, url), shown, now_ms())
    channel.system_events = system_events
    return channel


def send_test(secret_key: str | bytes, channel: Channel) -> Delivery:
    """Send the test message (labelled as a test) to one stored channel."""
    try:
        url = unseal(secret_key, channel.url_encrypted)
    except SealError as error:
        return Delivery(False, str(error))
    return send(url, TEST_TITLE, TEST_BODY)
