"""Alerts: notification channels (Apprise URLs, encrypted at rest), the outbox that delivers events
to them, the operator's system events, and the users' rules evaluated after each write of ticks
(README "Alerts")."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import click
from flask import Flask, current_app, has_app_context
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from .. import events
from ..config import ConfigError, add_check
from ..db import db
from ..storage import runs

POLL_SECONDS = 2.0


def check_settings(config: Mapping[str, Any]) -> None:
    """Check the NOTIFY_* settings."""
    for key in ("NOTIFY_MAX_TRIES", "NOTIFY_FAILURES_IN_ROW", "ALERTS_MAX_PER_HOUR"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key} must be a whole number of at least 1, got {value!r}")
    for key in ("NOTIFY_RETRY_BASE", "NOTIFY_TIMEOUT"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{key} must be a positive number of seconds, got {value!r}")


def flush(app: Flask, session: Session) -> str:
    """Deliver what is due now, within NOTIFY_TIMEOUT; the summary line."""
    from ..metrics import ALERTS
    from .outbox import deliver_due

    config = app.config
    done = deliver_due(
        session,
        config["SECRET_KEY"],
        max_tries=int(config["NOTIFY_MAX_TRIES"]),
        retry_base=float(config["NOTIFY_RETRY_BASE"]),
        timeout=float(config["NOTIFY_TIMEOUT"]),
    )
    ALERTS.labels("delivered").inc(done.sent)
    ALERTS.labels("failed").inc(done.failed)
    return done.describe()


def _deliver_forever(app: Flask, stop: threading.Event) -> None:
    while not stop.wait(POLL_SECONDS):
        with app.app_context():
            try:
                flush(app, db.session())
            except Exception:  # the next poll tries again; the collector must go on
                app.logger.exception("delivering notifications failed")
            finally:
                db.session.remove()


def _after_collect(
    app: Flask, session: Session, every: float | None = None, exports: bool = True
) -> list[str]:
    """After a collect cycle: its system events; a one-shot collect then delivers what is due."""
    return _system_events(app, session, background=every is not None)


def _after_job(app: Flask, session: Session, job: str) -> None:
    """After a worker's job run: its system events, sent by the delivery thread."""
    _system_events(app, session, background=True)


def _system_events(app: Flask, session: Session, background: bool) -> list[str]:
    """Record the system events the last cycle or job started; then deliver what is due (bounded
    by NOTIFY_TIMEOUT), or, in a long-running process, leave that to a delivery thread."""
    from . import system

    recorded = system.record(session, int(app.config["NOTIFY_FAILURES_IN_ROW"]))
    lines = (
        [f"{'notify':<12} {recorded} system event{'s' if recorded != 1 else ''} recorded"] if recorded else []
    )
    if not background:
        summary = flush(app, session)
        if recorded or "sent 0  retrying 0  failed 0" not in summary:
            lines.append(summary)
    elif "cryptocrunch.delivery" not in app.extensions:
        stop = threading.Event()
        thread = threading.Thread(target=_deliver_forever, args=(app, stop), name="notify", daemon=True)
        app.extensions["cryptocrunch.delivery"] = (thread, stop)
        thread.start()
    return lines


def _on_stop(app: Flask) -> list[str]:
    """A long-running command is stopping: let the delivery thread finish the sends it has started
    (bounded by NOTIFY_TIMEOUT), then deliver what the last cycle or job queued, as bounded."""
    running = app.extensions.pop("cryptocrunch.delivery", None)
    if running is not None:
        thread, stop = running
        stop.set()
        thread.join(float(app.config["NOTIFY_TIMEOUT"]) + POLL_SECONDS)
    with app.app_context():
        try:
            return [flush(app, db.session())]
        finally:
            db.session.remove()


@click.command("notify")
@with_appcontext
def notify_command() -> None:
    """Deliver every pending notification that is due (within NOTIFY_TIMEOUT)."""
    click.echo(flush(current_app, db.session()))


def _after_ticks(session: Session, spans: dict[int, tuple[int, int]]) -> None:
    """Evaluate the alert rules on the markets just written (in the writer's transaction)."""
    if not has_app_context():
        return
    from ..metrics import ALERTS
    from .rules import evaluate

    ALERTS.labels("fired").inc(evaluate(session, spans, int(current_app.config["ALERTS_MAX_PER_HOUR"])))


def init_app(app: Flask) -> None:
    """The NOTIFY_* checks, rule evaluation after each write of ticks, system events and delivery
    after each collect cycle, `flask notify`."""
    add_check(app, check_settings)
    runs.track_rule_changes()
    events.ticks_stored.connect(_after_ticks)
    events.collect_finished.connect(_after_collect, sender=app)
    events.stopping.connect(_on_stop, sender=app)
    events.job_finished.connect(_after_job, sender=app)
    app.cli.add_command(notify_command)
