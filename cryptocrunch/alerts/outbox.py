"""The outbox: deliver queued events to their channels through Apprise, each send in its own
thread so a slow channel holds up no other, a failure retried with exponential backoff up to
NOTIFY_MAX_TRIES, then marked failed with the error.

Each result is committed as soon as it is known, so an event reaches a channel once; the one
window for a duplicate is a process killed after a channel accepted a message and before its row
was marked sent: the next delivery sends it again.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..clock import now_ms
from ..models import Delivery
from ..storage import alerts
from .channels import Delivery as Sent
from .channels import send
from .vault import SealError, unseal

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Flushed:
    """What one pass over the outbox did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    unfinished: int = 0

    def describe(self) -> str:
        return f"notify       sent {self.sent}  retrying {self.retrying}  failed {self.failed}" + (
            f"  still sending {self.unfinished}" if self.unfinished else ""
        )


def _record(delivery: Delivery, result: Sent, now: int, max_tries: int, retry_base: float) -> str:
    delivery.tries += 1
    if result.delivered:
        delivery.status, delivery.sent, delivery.error = "sent", now, None
        return "sent"
    delivery.error = result.error
    if delivery.tries >= max_tries:
        delivery.status = "failed"
        return "failed"
    delivery.next_try = now + int(retry_base * 1000 * 2 ** (delivery.tries - 1))
    return "retrying"


def deliver_due(
    session: Session,
    secret_key: str | bytes,
    *,
    max_tries: int,
    retry_base: float,
    timeout: float,
    limit: int = 500,
    workers: int = 8,
) -> Flushed:
    """Send every due delivery (at most ``limit``) and record each outcome; wait at most
    ``timeout`` seconds for the sends (those still running stay pending and go again later)."""
    due = alerts.due_deliveries(session, now_ms(), limit)
    done = Flushed()
    if not due:
        session.rollback()
        return done
    jobs: dict[Future[Sent], Delivery] = {}
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notify")
    for delivery, channel, event in due:
        try:
            url = unseal(secret_key, channel.url_encrypted)
        except SealError as error:
            kept = _record(delivery, Sent(False, str(error)), now_ms(), 1, retry_base)  # no try can fix it
            done.failed += kept == "failed"
            continue
        jobs[pool.submit(send, url, event.title, event.message)] = delivery
    session.commit()
    deadline = time.monotonic() + timeout
    waiting = set(jobs)
    while waiting:
        finished, waiting = wait(
            waiting, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED
        )
        if not finished:
            break
        for future in finished:
            delivery = jobs[future]
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 (a plugin bug must not lose the row)
                result = Sent(False, f"{type(error).__name__}: {error}")
            outcome = _record(delivery, result, now_ms(), max_tries, retry_base)
            if outcome == "sent":
                done.sent += 1
            elif outcome == "failed":
                done.failed += 1
                log.warning(
                    "delivery %s to channel %s failed for good: %s",
                    delivery.id,
                    delivery.channel_id,
                    result.error,
                )
            else:
                done.retrying += 1
            session.commit()  # at once: a crash now cannot send this one twice
    done.unfinished = len(waiting)
    pool.shutdown(wait=False, cancel_futures=True)
    return done
