"""The operator's system events: a source failing several collect cycles in a row (a worker's job
several runs: its runs are those of source ``job:<name>``), or flagged for
rejections, told once (when it starts) to the admins' channels marked for system events."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..clock import now_ms
from ..storage import alerts, runs


def _lines(session: Session, failures_in_row: int) -> list[tuple[int, str, str]]:
    """(ts, title, message) of what started in the newest cycle."""
    found = []
    for latest in runs.latest_runs(session):
        recent = runs.recent_runs(session, limit=failures_in_row + 1, source=latest.source)
        failing = [r for r in recent[:failures_in_row] if r.status == "error"]
        before = recent[failures_in_row] if len(recent) > failures_in_row else None
        if len(failing) == failures_in_row and (before is None or before.status != "error"):
            found.append(
                (
                    latest.started,
                    f"cryptocrunch: {latest.source} failing",
                    f"{latest.source} failed {failures_in_row} "
                    f"{'runs' if latest.source.startswith('job:') else 'collect cycles'} in a row; "
                    f"last error: {latest.error}",
                )
            )
        previous = recent[1] if len(recent) > 1 else None
        if latest.flag and (previous is None or not previous.flag):
            found.append(
                (
                    latest.started,
                    f"cryptocrunch: {latest.source} flagged",
                    f"{latest.source} flagged: {latest.flag}",
                )
            )
    return found


def record(session: Session, failures_in_row: int) -> int:
    """Record (and queue) the system events the newest cycle started; return how many."""
    channels = alerts.operator_channels(session)
    if not channels:
        return 0
    by_user: dict[int, list[int]] = {}
    for channel in channels:
        by_user.setdefault(channel.user_id, []).append(channel.id)
    new = [
        alerts.NewEvent(user_id, "system", ts, title, message, channel_ids)
        for ts, title, message in _lines(session, failures_in_row)
        for user_id, channel_ids in by_user.items()
    ]
    alerts.add_events(session, new, now_ms())
    session.commit()
    return len(new)
