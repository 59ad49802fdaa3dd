"""HTML pages; each page that shows data has a JSON twin in ``views.api`` built from the same
insights function. A view imports the insights (and storage) modules it calls in its body: they
load pandas, which ``flask --help`` and the first page of a dashboard need not wait for."""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, render_template, request, url_for

from ..clock import HOUR, TIMEFRAMES, now_ms, utc_iso, utc_text
from ..db import db
from ..errors import BadRequest, NotFound
from ..insights.params import METRICS, WINDOWS, Window, resolve_window, resolve_within, split_pair
from ..storage import runs
from . import PairConverter

bp = Blueprint("pages", __name__)


#: The dashboard's parameters when the URL leaves them out (and its links leave them out too).
DASHBOARD_DEFAULTS = {"q": "", "exchange": "", "quote": "", "window": "24h", "sort": "pair", "order": "asc"}
DASHBOARD_DEFAULTS |= {"page": 1, "per_page": 50}


@bp.get("/")
def dashboard():
    """The markets table a page at a time, filtered and sorted on the server (JSON twin:
    /api/v1/markets/table, which the page's script asks for other pages, sorts and filters;
    /api/v1/sparklines draws the rows' sparklines), and the last run of every source."""
    from ..insights import table

    options = {
        **{k: request.args.get(k, DASHBOARD_DEFAULTS[k]).strip() for k in ("q", "exchange", "quote")},
        **{k: request.args.get(k, DASHBOARD_DEFAULTS[k]) for k in ("sort", "order")},
        **{k: _int_arg(k, DASHBOARD_DEFAULTS[k]) for k in ("page", "per_page")},
    }
    window = _window_arg(DASHBOARD_DEFAULTS["window"])
    try:
        result = table.table(
            db.session,
            window,
            **{k: options[k] or None for k in ("q", "exchange", "quote")},
            **{k: options[k] for k in ("sort", "order", "page", "per_page")},
        )
    except BadRequest as error:
        abort(400, description=str(error))
    options["window"] = window.name

    def link(**changes):
        """This page with ``changes`` to its parameters (the defaults left out of the URL)."""
        wanted = {**options, **changes}
        return url_for("pages.dashboard", **{k: v for k, v in wanted.items() if v != DASHBOARD_DEFAULTS[k]})

    return render_template(
        "dashboard.html",
        windows=[w for w in WINDOWS if w != "all"],
        result=result,
        options=options,
        link=link,
        page_sizes=(25, 50, 100, table.MAX_PER_PAGE),
        runs=runs.latest_runs(db.session),
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
        windows=list(WINDOWS),
        window="24h",
        timeframes=list(TIMEFRAMES),
        book=book,
        interval=current_app.config["COLLECT_INTERVAL"],
    )


@bp.get("/pairs/<pair:pair>")
def pair(pair):
    """One pair across exchanges: overlaid prices, statistics, spread (JSON twin: /api/v1/pairs/<pair>)."""
    from ..storage import markets as market_table

    unified = split_pair(pair)
    exchanges = [name for _, name in market_table.markets_of_pair(db.session, unified)]
    return _chart_page(unified, exchanges, unified)


@bp.get("/markets/<exchange>/<pair:pair>")
def market(exchange, pair):
    """One market (JSON twins: /api/v1/markets/<exchange>/<pair>/prices and .../stats)."""
    from ..insights import markets
    from ..storage import books

    unified = split_pair(pair)
    try:
        market_id = markets.find_market(db.session, exchange, pair)
    except NotFound as missing:
        abort(404, description=str(missing))
    book = books.has_book_tops(db.session, market_id)
    return _chart_page(unified, [exchange], f"{unified} on {exchange}", book=book)


@bp.get("/exchanges/<exchange>")
def exchange(exchange):
    """One exchange: its markets with their latest tick, and its collection runs."""
    from ..storage import ticks

    listed = [row for row in ticks.latest_ticks(db.session) if row[0] == exchange]
    recent = runs.recent_runs(db.session, limit=20, source=exchange)
    if not listed and not recent:
        abort(404, description=f"Nothing collected from {exchange} yet: run flask collect.")
    return render_template("exchange.html", exchange=exchange, markets=listed, runs=recent)


@bp.get("/exchanges/<exchange>/similar")
def similar_exchanges(exchange):
    """Exchanges listing the same pairs, shared markets' volume trend, outlier prices
    (JSON twin: /api/v1/exchanges/<exchange>/similar)."""
    from ..insights import similar

    config = current_app.config
    lookback = request.args.get("lookback", config["SIMILAR_LOOKBACK"])
    try:
        result = similar.configured_answer(
            db.session, config, exchange, lookback, _int_arg("top", config["SIMILAR_TOP"])
        )
    except BadRequest as error:
        abort(400, description=str(error))
    except NotFound as missing:
        abort(404, description=str(missing))
    return render_template(
        "similar.html", result=result, volumes=similar.shared_volumes(result), lookback=lookback
    )


@bp.get("/rankings")
def rankings():
    """Top and bottom markets by a metric over a window (JSON twin: /api/v1/rankings)."""
    from ..insights import markets

    metric = request.args.get("metric", "volatility")
    window = _window_arg("24h")
    window_name = window.name
    try:
        rows = markets.rankings(db.session, metric, window, limit=1000)
    except BadRequest as error:
        abort(400, description=str(error))
    half = min(10, (len(rows) + 1) // 2)
    return render_template(
        "rankings.html",
        metric=metric,
        window=window_name,
        metrics=METRICS,
        windows=list(WINDOWS),
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
    from ..insights import candles

    options = {
        "timeframe": request.args.get("timeframe", "1h"),
        "window": request.args.get("window", "7d"),
        "within": request.args.get("within", "24h"),
        "fast": _int_arg("fast", 12),
        "slow": _int_arg("slow", 26),
    }
    recent = [w for w in WINDOWS if w != "all"]
    if options["within"] not in recent:
        abort(400, description=f"within must be one of {', '.join(recent)}, got {options['within']!r}")
    try:
        window = resolve_window(options["window"], None, None)
        found = candles.signals(
            db.session,
            options["timeframe"],
            window,
            resolve_within(options["within"], None, None),
            options["fast"],
            options["slow"],
        )
    except BadRequest as error:
        abort(400, description=str(error))
    return render_template(
        "signals.html",
        rows=found["signals"],
        skipped=found["skipped"],
        options=options,
        timeframes=list(TIMEFRAMES),
        windows=list(WINDOWS),
        recent=recent,
    )


def _window_arg(default: str) -> Window:
    try:
        return resolve_window(request.args.get("window", default), None, None)
    except BadRequest as error:
        abort(400, description=str(error))


@bp.get("/caps")
def caps():
    """CoinGecko market-cap ranks with their change over a window (JSON twin: /api/v1/caps)."""
    from ..insights import caps as cap_insights

    window = _window_arg("24h")
    return render_template(
        "caps.html",
        rows=cap_insights.caps(db.session, window),
        window=window.name,
        windows=list(WINDOWS),
    )


@bp.get("/caps/<coin>")
def coin(coin):
    """One coin's market cap and rank over a window (JSON twin: /api/v1/caps/<coin>)."""
    from ..insights import caps as cap_insights
    from ..storage import caps as cap_table

    window = _window_arg("30d")
    try:
        history = cap_insights.cap_history(db.session, coin, window)
    except NotFound as missing:
        abort(404, description=str(missing))
    return render_template(
        "coin.html",
        coin=cap_table.latest_cap(db.session, coin),
        history=history,
        window=window.name,
        windows=list(WINDOWS),
    )


@bp.get("/rejections")
def rejections():
    """The validation report: kept rejections grouped by source and reason, and the newest ones
    (JSON twins: /api/v1/rejections/summary and /api/v1/rejections)."""
    source = request.args.get("source") or None
    limit = _int_arg("limit", 100)
    if not 1 <= limit <= 10_000:
        abort(400, description=f"limit must be between 1 and 10000, got {limit}")
    groups = runs.rejection_summary(db.session, source)
    kept: dict[str, int] = {}
    for group in groups:
        kept[group["source"]] = kept.get(group["source"], 0) + group["count"]
    recent = runs.rejection_counts(db.session, kept, now_ms() - HOUR)
    return render_template(
        "rejections.html",
        source=source,
        limit=limit,
        sources=runs.rejection_sources(db.session),
        per_source=[(name, count, recent.get(name, 0)) for name, count in kept.items()],
        groups=groups,
        rows=runs.read_rejections(db.session, source, limit),
        keep=current_app.config["REJECTIONS_KEEP"],
        alert=current_app.config["REJECTIONS_ALERT"],
    )


bp.add_app_template_filter(utc_text, "utc")  # epoch ms as YYYY-MM-DD HH:MM:SS (UTC)
bp.add_app_template_filter(utc_iso, "iso")  # epoch ms as ISO 8601 UTC, for <time datetime>


@bp.app_template_test("pair_url")
def pair_url(pair):
    """Whether a pair can be named in a URL (BASE-QUOTE of letters, digits and dots)."""
    return re.fullmatch(PairConverter.regex, pair.replace("/", "-")) is not None
