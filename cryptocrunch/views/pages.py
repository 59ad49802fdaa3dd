"""HTML pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import select

from .. import insights, similar, storage
from ..db import db
from ..models import Exchange, Market
from ..sources.base import now_ms
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


def _chart_page(pair: str, exchanges: list[str], title: str, book: bool | None = None):
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
        timeframes=list(insights.TIMEFRAMES),
        book=book,
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
        market_id = insights.find_market(db.session, exchange, pair)
    except insights.NotFound as missing:
        abort(404, description=str(missing))
    book = storage.has_book_tops(db.session, market_id)
    return _chart_page(unified, [exchange], f"{unified} on {exchange}", book=book)


@bp.get("/exchanges/<exchange>")
def exchange(exchange):
    """One exchange: its markets with their latest tick, and its collection runs."""
    markets = [row for row in storage.latest_ticks(db.session) if row[0] == exchange]
    runs = storage.recent_runs(db.session, limit=20, source=exchange)
    if not markets and not runs:
        abort(404, description=f"Nothing collected from {exchange} yet: run flask collect.")
    return render_template("exchange.html", exchange=exchange, markets=markets, runs=runs)


@bp.get("/exchanges/<exchange>/similar")
def similar_exchanges(exchange):
    """Exchanges listing the same pairs, shared markets' volume trend, outlier prices
    (JSON twin: /api/v1/exchanges/<exchange>/similar)."""
    config = current_app.config
    lookback = request.args.get("lookback", config["SIMILAR_LOOKBACK"])
    try:
        result = similar.configured_answer(
            db.session, config, exchange, lookback, _int_arg("top", config["SIMILAR_TOP"])
        )
    except insights.BadRequest as error:
        abort(400, description=str(error))
    except insights.NotFound as missing:
        abort(404, description=str(missing))
    return render_template(
        "similar.html", result=result, volumes=similar.shared_volumes(result), lookback=lookback
    )


@bp.get("/rankings")
def rankings():
    """Top and bottom markets by a metric over a window (JSON twin: /api/v1/rankings)."""
    metric = request.args.get("metric", "volatility")
    window = _window_arg("24h")
    window_name = window.name
    try:
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


def _int_arg(name: str, default: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        abort(400, description=f"{name} must be a whole number, got {text!r}")


@bp.get("/signals")
def signals():
    """Markets whose EMAs crossed recently (JSON twin: /api/v1/signals)."""
    options = {
        "timeframe": request.args.get("timeframe", "1h"),
        "window": request.args.get("window", "7d"),
        "within": request.args.get("within", "24h"),
        "fast": _int_arg("fast", 12),
        "slow": _int_arg("slow", 26),
    }
    recent = [w for w in insights.WINDOWS if w != "all"]
    if options["within"] not in recent:
        abort(400, description=f"within must be one of {', '.join(recent)}, got {options['within']!r}")
    try:
        window = insights.resolve_window(options["window"], None, None)
        rows = insights.signals(
            db.session,
            options["timeframe"],
            window,
            insights.WINDOWS[options["within"]],
            options["fast"],
            options["slow"],
        )
    except insights.BadRequest as error:
        abort(400, description=str(error))
    return render_template(
        "signals.html",
        rows=rows,
        options=options,
        timeframes=list(insights.TIMEFRAMES),
        windows=list(insights.WINDOWS),
        recent=recent,
    )


def _window_arg(default: str) -> insights.Window:
    try:
        return insights.resolve_window(request.args.get("window", default), None, None)
    except insights.BadRequest as error:
        abort(400, description=str(error))


@bp.get("/caps")
def caps():
    """CoinGecko market-cap ranks with their change over a window (JSON twin: /api/v1/caps)."""
    window = _window_arg("24h")
    return render_template(
        "caps.html",
        rows=insights.caps(db.session, window),
        window=window.name,
        windows=list(insights.WINDOWS),
    )


@bp.get("/caps/<coin>")
def coin(coin):
    """One coin's market cap and rank over a window (JSON twin: /api/v1/caps/<coin>)."""
    window = _window_arg("30d")
    try:
        history = insights.cap_history(db.session, coin, window)
    except insights.NotFound as missing:
        abort(404, description=str(missing))
    return render_template(
        "coin.html",
        coin=storage.latest_cap(db.session, coin),
        history=history,
        window=window.name,
        windows=list(insights.WINDOWS),
    )


@bp.get("/rejections")
def rejections():
    """The validation report: kept rejections grouped by source and reason, and the newest ones
    (JSON twins: /api/v1/rejections/summary and /api/v1/rejections)."""
    source = request.args.get("source") or None
    limit = _int_arg("limit", 100)
    if not 1 <= limit <= 10_000:
        abort(400, description=f"limit must be between 1 and 10000, got {limit}")
    groups = storage.rejection_summary(db.session, source)
    kept: dict[str, int] = {}
    for group in groups:
        kept[group["source"]] = kept.get(group["source"], 0) + group["count"]
    recent = storage.rejection_counts(db.session, kept, now_ms() - storage.HOUR)
    return render_template(
        "rejections.html",
        source=source,
        limit=limit,
        sources=storage.rejection_sources(db.session),
        per_source=[(name, count, recent.get(name, 0)) for name, count in kept.items()],
        groups=groups,
        rows=storage.read_rejections(db.session, source, limit),
        keep=current_app.config["REJECTIONS_KEEP"],
        alert=current_app.config["REJECTIONS_ALERT"],
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
