"""HTML pages."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, render_template

from .. import storage
from ..db import db

bp = Blueprint("pages", __name__)


@bp.get("/")
def dashboard():
    """Latest price of every market and the collector's recent runs."""
    return render_template(
        "dashboard.html",
        markets=storage.latest_ticks(db.session),
        runs=storage.recent_runs(db.session, limit=20),
    )


@bp.app_template_filter("utc")
def utc(ms):
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM:SS`` UTC."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


@bp.app_template_filter("iso")
def iso(ms):
    """Epoch milliseconds as ISO 8601 UTC, for <time datetime>."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
