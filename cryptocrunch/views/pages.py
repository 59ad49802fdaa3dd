"""HTML pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import select

from .. import insights, storage
from ..db import db
from ..models import Exchange, Market
from . import PairConverter

bp = Blueprint("pages", __name__)


@bp.get("/")
def dashboard():
    """Latest price of every market, and the last run of every source (collector health)."""
    return render_template(
        "dashboard.html",
        windows=[w for w in insights.WINDOWS if w != "all"],
        markets=storage.latest_ticks(db.session),
        runs=storage.latest_runs(db.session),
    )


def _chart_page(pair: str, exchanges: list[str], title: str):
    if not exchanges:
        abort(404, description=f"Nothing collected for {pair} yet: run flask collect.")
    return render_template(
        "pair.html",
        title=title,
        pair=pair,
        pair_url=pair.replace("/", "-"),
        exchanges=exchanges,
        windows=list(insights.WINDOWS),
        window="24h",
        interval=current_app.config["COLLECT_INTERVAL"],
    )


@bp.get("/pairs/<pair:pair>")
def pair(pair):
    """One pair across exchanges: overlaid prices, statistics, spread (JSON twin: /api/v1/pairs/<pair>)."""
    unified = insights.split_pair(pair)
    exchanges = db.session.scalars(
        select(Exchange.name).join(Market.exchange).where(Market.pair == unified).order_by(Exchange.name)
    ).all()
    return _chart_page(unified, list(exchanges), unified)


@bp.get("/markets/<exchange>/<pair:pair>")
def market(exchange, pair):
    """One market (JSON twins: /api/v1/markets/<exchange>/<pair>/prices and .../stats)."""
    unified = insights.split_pair(pair)
    try:
        insights.find_market(db.session, exchange, pair)
    except insights.NotFound as missing:
        abort(404, description=str(missing))
    return _chart_page(unified, [exchange], f"{unified} on {exchange}")


@bp.get("/exchanges/<exchange>")
def exchange(exchange):
    """One exchange: its markets with their latest tick, and its collection runs."""
    markets = [row for row in storage.latest_ticks(db.session) if row[0] == exchange]
    runs = storage.recent_runs(db.session, limit=20, source=exchange)
    if not markets and not runs:
        abort(404, description=f"Nothing collected from {exchange} yet: run flask collect.")
    return render_template("exchange.html", exchange=exchange, markets=markets, runs=runs)


@bp.get("/rankings")
def rankings():
    """Top and bottom markets by a metric over a window (JSON twin: /api/v1/rankings)."""
    metric = request.args.get("metric", "volatility")
    window_name = request.args.get("window", "24h")
    try:
        window = insights.resolve_window(window_name, None, None)
        rows = insights.rankings(db.session, metric, window, limit=1000)
    except insights.BadRequest as error:
        abort(400, description=str(error))
    half = min(10, (len(rows) + 1) // 2)
    return render_template(
        "rankings.html",
        metric=metric,
        window=window_name,
        metrics=insights.METRICS,
        windows=list(insights.WINDOWS),
        top=rows[:half],
        bottom=rows[half:][-half:][::-1] if len(rows) > half else [],
        total=len(rows),
    )


@bp.app_template_filter("utc")
def utc(ms):
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM:SS`` UTC."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


@bp.app_template_filter("iso")
def iso(ms):
    """Epoch milliseconds as ISO 8601 UTC, for <time datetime>."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@bp.app_template_test("pair_url")
def pair_url(pair):
    """Whether a pair can be named in a URL (BASE-QUOTE of letters, digits and dots)."""
    return re.fullmatch(PairConverter.regex, pair.replace("/", "-")) is not None
