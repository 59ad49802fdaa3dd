"""``/healthz`` and ``/metrics`` (``cryptocrunch.metrics``, imported with the first request, so
start-up does not load prometheus_client).

``/healthz``: whether the instance is healthy, for a load balancer or a monitor: the database
answers, a collect succeeded within HEALTH_MAX_AGE, the worker beats, and each source's last run.
200 when healthy; 503 when the database is unreachable or the last successful collect is too old
(a missing worker alone is reported, not a 503: one-shot `flask collect` setups have none)."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify
from flask.typing import ResponseReturnValue

from ..db import db

bp = Blueprint("health", __name__)

#: A worker is alive while its newest heartbeat is at most this many ms old (three beats).
WORKER_GRACE_MS = 45_000


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The instance's health as JSON (200 healthy, 503 not)."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..clock import now_ms
    from ..storage import runs

    now = now_ms()
    try:
        session = db.session()
        last = runs.last_success(session)
        seen = runs.data_version(session, runs.WORKER_SEEN)
        latest = runs.latest_runs(session)
    except SQLAlchemyError as error:
        db.session.rollback()
        body = {"status": "unhealthy", "database": f"error: {type(error).__name__}"}
        return jsonify(body), 503
    finally:
        db.session.remove()
    age = None if last is None else round((now - last) / 1000, 1)
    limit = float(current_app.config["HEALTH_MAX_AGE"])
    healthy = age is not None and age <= limit
    body = {
        "status": "healthy" if healthy else "unhealthy",
        "database": "ok",
        "last_collect_age_s": age,
        "max_age_s": limit,
        "worker": "alive" if seen and now - seen <= WORKER_GRACE_MS else "missing",
        "sources": {
            run.source: {
                "status": run.status,
                "age_s": round((now - run.finished) / 1000, 1),
                "error": run.error,
            }
            for run in latest
        },
    }
    return jsonify(body), 200 if healthy else 503


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Every metric in Prometheus' text format (with METRICS_TOKEN set: for its bearer only)."""
    from .. import metrics as measured

    return measured.metrics()


def _started() -> None:
    from .. import metrics as measured

    measured.started()


def _finished(response: Response) -> Response:
    from .. import metrics as measured

    return measured.finished(response)


def init_app(app: Flask) -> None:
    """/healthz and /metrics, and the latency of every request."""
    app.register_blueprint(bp)
    app.before_request(_started)
    app.after_request(_finished)
