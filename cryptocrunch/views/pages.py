"""HTML pages."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, render_template
from sqlalchemy import select

from .. import insights, storage
from ..db import db
from ..models import Exchange, Market

bp = Blueprint("pages", __name__)


@bp.get("/")
def dashboard():
    """Latest price of every market and the collector's recent runs."""
    return render_template(
        "dashboard.html",
        markets=storage.latest_ticks(db.session),
        runs=storage.recent_runs(db.session, limit=20),
    )


@bp.get("/pairs/<pair:pair>")
def pair(pair):
    """One pair across exchanges: overlaid prices, statistics, spread (JSON twin: /api/v1/pairs/<pair>)."""
    unified = insights.split_pair(pair)
    exchanges = db.session.scalars(
        select(Exchange.name).join(Market.exchange).where(Market.pair == unified).order_by(Exchange.name)
    ).all()
    if not exchanges:
        abort(404, description=f"No exchange has {unified} yet: run flask collect.")
    return render_template(
        "pair.html",
        pair=unified,
        pair_url=unified.replace("/", "-"),
        exchanges=exchanges,
        windows=list(insights.WINDOWS),
        window="24h",
        interval=current_app.config["COLLECT_INTERVAL"],
    )


@bp.app_template_filter("utc")
def utc(ms):
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM:SS`` UTC."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


@bp.app_template_filter("iso")
def iso(ms):
    """Epoch milliseconds as ISO 8601 UTC, for <time datetime>."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
