"""JSON API under /api/v1, documented by flask-smorest (OpenAPI 3: /api/v1/openapi.json; docs: /api/v1/docs).

Every list endpoint also answers CSV (``?format=csv`` or ``Accept: text/csv``).
Errors share one envelope: ``{"error": {"status": 404, "message": "..."}}``.
"""

from __future__ import annotations

import csv
import io
import threading
from collections import OrderedDict
from typing import Any

import swagger_ui_bundle
from flask import Response, current_app, g, request, send_from_directory
from flask_smorest import Api, Blueprint, abort
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from .. import insights, orderbook, similar, storage
from ..config import parse_duration
from ..db import db
from ..models import Exchange, Market
from . import PairConverter

PREFIX = "/api/v1"


# -- the error envelope ---------------------------------------------------------


class ErrorBody(Schema):
    status = fields.Int(required=True)
    message = fields.Str(required=True)


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBody, required=True)


class CryptoApi(Api):
    """flask-smorest's Api with our error envelope, for API paths only."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        if not request.path.startswith(PREFIX):
            return error  # pages keep Flask's own error pages
        data = getattr(error, "data", None) or {}
        message = data.get("message") or error.description
        messages = data.get("messages")
        if messages:  # webargs validation: name each bad parameter
            details = [
                f"{name}: {' '.join(map(str, errs))}"
                for loc in messages.values()
                for name, errs in loc.items()
            ]
            message = "; ".join(details)
        response = current_app.json.response({"error": {"status": error.code, "message": message}})
        response.status_code = error.code
        return response


def _pair_schema(_converter: BaseConverter) -> dict:
    return {"type": "string", "pattern": f"^{PairConverter.regex}$", "example": "BTC-USD"}


api = CryptoApi()
bp = Blueprint("api", __name__, url_prefix=PREFIX, description="Prices, statistics and rankings")


# -- parameters ---------------------------------------------------------------


class FormatArgs(Schema):
    format = fields.Str(validate=validate.OneOf(["json", "csv"]), metadata={"description": "csv for CSV"})


class WindowArgs(Schema):
    window = fields.Str(
        validate=validate.OneOf(list(insights.WINDOWS)), metadata={"description": "default 24h; or start/end"}
    )
    start = fields.Str(metadata={"description": "ISO 8601 with time zone, or epoch ms"})
    end = fields.Str(metadata={"description": "ISO 8601 with time zone, or epoch ms (inclusive)"})


class PricesArgs(WindowArgs, FormatArgs):
    points = fields.Int(
        load_default=insights.DEFAULT_POINTS,
        validate=validate.Range(2, insights.MAX_POINTS),
        metadata={
            "description": "at most this many points: raw ticks when they fit, else min/max/last per bucket"
        },
    )


class RankingArgs(WindowArgs, FormatArgs):
    metric = fields.Str(load_default="volatility", validate=validate.OneOf(insights.METRICS))
    exchange = fields.Str()
    quote = fields.Str()
    limit = fields.Int(load_default=20, validate=validate.Range(1, 1000))
    order = fields.Str(
        load_default="desc",
        validate=validate.OneOf(["desc", "asc"]),
        metadata={"description": "asc for losers"},
    )


class GapArgs(WindowArgs, FormatArgs):
    k = fields.Float(load_default=3.0, validate=validate.Range(min=0, min_inclusive=False))


class CandleArgs(WindowArgs, FormatArgs):
    timeframe = fields.Str(load_default="1h", validate=validate.OneOf(list(insights.TIMEFRAMES)))
    fast = fields.Int(
        load_default=12, validate=validate.Range(1, 500), metadata={"description": "fast EMA span (candles)"}
    )
    slow = fields.Int(
        load_default=26,
        validate=validate.Range(2, 1000),
        metadata={"description": "slow EMA span (candles), longer than fast"},
    )


class SignalArgs(CandleArgs):
    within = fields.Str(
        load_default="24h",
        validate=validate.OneOf([w for w in insights.WINDOWS if w != "all"]),
        metadata={"description": "only crossovers this recent"},
    )


class BookArgs(WindowArgs, FormatArgs):
    horizon = fields.Str(
        metadata={
            "description": "how far past the last book top to extrapolate, like 15m, 1h or 1d; "
            "default BOOK_FORECAST_HORIZON"
        }
    )
    points = fields.Int(
        load_default=insights.DEFAULT_POINTS,
        validate=validate.Range(2, insights.MAX_POINTS),
        metadata={"description": "at most this many series rows (per bucket: last prices, widest spread)"},
    )


class SimilarArgs(FormatArgs):
    top = fields.Int(validate=validate.Range(1, 100), metadata={"description": "default SIMILAR_TOP"})
    lookback = fields.Str(
        metadata={"description": "volume window like 24h, 7d or 2w; default SIMILAR_LOOKBACK"}
    )


class RunArgs(FormatArgs):
    limit = fields.Int(load_default=50, validate=validate.Range(1, 1000))
    source = fields.Str()


# -- responses ----------------------------------------------------------------


class ExchangeOut(Schema):
    exchange = fields.Str(required=True)
    markets = fields.Int(required=True)


class MarketOut(Schema):
    exchange = fields.Str(required=True)
    pair = fields.Str(required=True)
    ts = fields.Int(allow_none=True, required=True)
    last = fields.Float(allow_none=True, required=True)
    bid = fields.Float(allow_none=True, required=True)
    ask = fields.Float(allow_none=True, required=True)


class PricePoint(Schema):
    ts = fields.Int(required=True)
    last = fields.Float(required=True)
    min = fields.Float(required=True)
    max = fields.Float(required=True)


class MoveOut(Schema):
    value = fields.Float(required=True)
    ts_from = fields.Int(required=True)
    ts_to = fields.Int(required=True)


class StatsCore(Schema):
    n = fields.Int(required=True)
    first_ts = fields.Int(required=True)
    last_ts = fields.Int(required=True)
    first = fields.Float(required=True)
    last = fields.Float(required=True)
    min = fields.Float(required=True)
    max = fields.Float(required=True)
    stdev = fields.Float(required=True)
    volatility = fields.Float(required=True)
    largest_delta = fields.Nested(MoveOut, required=True)
    largest_pct_move = fields.Nested(MoveOut, required=True)
    pct_change = fields.Float(required=True)


class StatsOut(StatsCore):
    exchange = fields.Str(required=True)
    pair = fields.Str(required=True)
    window = fields.Str(required=True)


class RankingRow(Schema):
    rank = fields.Int(required=True)
    exchange = fields.Str(required=True)
    pair = fields.Str(required=True)
    value = fields.Float(required=True)
    n = fields.Int(required=True)
    first_ts = fields.Int(required=True)
    last_ts = fields.Int(required=True)


class PairExchange(Schema):
    exchange = fields.Str(required=True)
    last = fields.Float(allow_none=True, required=True)
    ts = fields.Int(allow_none=True, required=True)
    pct_change = fields.Float(allow_none=True, required=True)
    stats = fields.Nested(StatsCore, allow_none=True, required=True)
    stats_error = fields.Str(allow_none=True, required=True, metadata={"description": "why stats is null"})


class Spread(Schema):
    high = fields.Float(required=True)
    low = fields.Float(required=True)
    absolute = fields.Float(required=True)
    pct = fields.Float(required=True)


class PairOut(Schema):
    pair = fields.Str(required=True)
    window = fields.Str(required=True)
    exchanges = fields.List(fields.Nested(PairExchange), required=True)
    spread = fields.Nested(Spread, required=True)


class Gap(Schema):
    from_ = fields.Int(required=True, data_key="from", attribute="from")
    to = fields.Int(required=True)
    seconds = fields.Float(required=True)


class GapsOut(Schema):
    exchange = fields.Str(required=True)
    pair = fields.Str(required=True)
    window = fields.Str(required=True)
    threshold_seconds = fields.Float(required=True)
    n = fields.Int(required=True)
    coverage_pct = fields.Float(required=True)
    gaps = fields.List(fields.Nested(Gap), required=True)


class PriceAt(Schema):
    value = fields.Float(required=True)
    ts = fields.Int(required=True)


class SpreadOut(Schema):
    last = fields.Float(required=True)
    last_bps = fields.Float(required=True)
    mean = fields.Float(required=True)
    mean_bps = fields.Float(required=True)
    max = fields.Float(required=True)
    max_bps = fields.Float(required=True)
    max_ts = fields.Int(required=True)


class DepthOut(Schema):
    bid_depth_05 = fields.Float(
        required=True, metadata={"description": "mean base size bid within 0.5 % of mid"}
    )
    ask_depth_05 = fields.Float(required=True)
    bid_depth_1 = fields.Float(
        required=True, metadata={"description": "mean base size bid within 1 % of mid"}
    )
    ask_depth_1 = fields.Float(required=True)


class ForecastOut(Schema):
    label = fields.Str(required=True)
    ts = fields.Int(required=True)
    horizon_seconds = fields.Float(required=True)
    mid = fields.Float(required=True)
    slope_per_hour = fields.Float(required=True)
    r2 = fields.Float(required=True)
    n = fields.Int(required=True)


class BookPoint(Schema):
    ts = fields.Int(required=True)
    bid = fields.Float(required=True)
    ask = fields.Float(required=True)
    mid = fields.Float(required=True)
    spread = fields.Float(required=True)
    spread_bps = fields.Float(required=True)


class BookOut(Schema):
    exchange = fields.Str(required=True)
    pair = fields.Str(required=True)
    window = fields.Str(required=True)
    n = fields.Int(required=True)
    first_ts = fields.Int(required=True)
    last_ts = fields.Int(required=True)
    highest_bid = fields.Nested(PriceAt, required=True)
    lowest_ask = fields.Nested(PriceAt, required=True)
    spread = fields.Nested(SpreadOut, required=True)
    depth = fields.Nested(DepthOut, required=True)
    forecast = fields.Nested(ForecastOut, allow_none=True, required=True)
    series = fields.List(fields.Nested(BookPoint), required=True)


class VolumeTrendOut(Schema):
    pair = fields.Str(required=True)
    exchange = fields.Str(required=True)
    hours = fields.Int(required=True, metadata={"description": "hourly samples in the lookback"})
    first_ts = fields.Int(required=True)
    last_ts = fields.Int(required=True)
    base_first = fields.Float(allow_none=True, required=True)
    base_last = fields.Float(allow_none=True, required=True)
    base_pct_change = fields.Float(allow_none=True, required=True)
    base_slope_per_day = fields.Float(allow_none=True, required=True)
    quote_first = fields.Float(allow_none=True, required=True)
    quote_last = fields.Float(allow_none=True, required=True)
    quote_pct_change = fields.Float(allow_none=True, required=True)
    quote_slope_per_day = fields.Float(allow_none=True, required=True)


class SimilarRowOut(Schema):
    exchange = fields.Str(required=True)
    shared = fields.Int(required=True, metadata={"description": "pairs both list"})
    jaccard = fields.Float(required=True, metadata={"description": "|A ∩ B| / |A ∪ B| of the listings"})
    pairs = fields.Int(required=True, metadata={"description": "pairs the other exchange lists"})
    refreshed = fields.Int(required=True, metadata={"description": "when its listing was loaded"})
    volume = fields.List(fields.Nested(VolumeTrendOut), required=True)


class OutlierOut(Schema):
    pair = fields.Str(required=True)
    exchange = fields.Str(required=True)
    price = fields.Float(required=True)
    ts = fields.Int(required=True)
    median = fields.Float(required=True, metadata={"description": "the pair's median latest price"})
    deviation_pct = fields.Float(required=True)
    exchanges = fields.Int(required=True)
    flagged = fields.Bool(required=True)
    ambiguous = fields.Bool(required=True, metadata={"description": "2 exchanges: either may be the odd one"})


class SimilarOut(Schema):
    exchange = fields.Str(required=True)
    pairs = fields.Int(required=True)
    refreshed = fields.Int(required=True)
    window = fields.Str(required=True)
    similar = fields.List(fields.Nested(SimilarRowOut), required=True)
    outlier_pct = fields.Float(required=True)
    outliers = fields.List(fields.Nested(OutlierOut), required=True)
    missing = fields.List(
        fields.Str(), required=True, metadata={"description": "exchanges without a listing"}
    )


class CandleOut(Schema):
    ts = fields.Int(required=True)
    open = fields.Float(required=True)
    high = fields.Float(required=True)
    low = fields.Float(required=True)
    close = fields.Float(required=True)
    volume = fields.Float(allow_none=True, required=True)
    source = fields.Str(
        required=True, metadata={"description": "stored (backfill/import) or ticks (resampled)"}
    )
    ema_fast = fields.Float(
        required=True, metadata={"description": "EMA(fast) of closes from the window start"}
    )
    ema_slow = fields.Float(
        required=True, metadata={"description": "EMA(slow) of closes from the window start"}
    )
    cross = fields.Str(
        allow_none=True,
        required=True,
        metadata={"description": "golden or death where the fast EMA crosses the slow one here"},
    )


class SignalOut(Schema):
    exchange = fields.Str(required=True)
    pair = fields.Str(required=True)
    kind = fields.Str(required=True, metadata={"description": "golden (fast EMA crosses above) or death"})
    ts = fields.Int(required=True)
    price = fields.Float(required=True)
    fast = fields.Float(required=True)
    slow = fields.Float(required=True)


class CapOut(Schema):
    coin = fields.Str(required=True, metadata={"description": "CoinGecko id"})
    symbol = fields.Str(required=True)
    name = fields.Str(required=True)
    rank = fields.Int(required=True)
    rank_change = fields.Int(
        required=True, metadata={"description": "places climbed since the window's first snapshot"}
    )
    market_cap = fields.Float(required=True)
    volume = fields.Float(allow_none=True, required=True)
    supply = fields.Float(allow_none=True, required=True)
    ts = fields.Int(required=True)


class CapPoint(Schema):
    ts = fields.Int(required=True)
    rank = fields.Int(required=True)
    market_cap = fields.Float(required=True)
    volume = fields.Float(allow_none=True, required=True)
    supply = fields.Float(allow_none=True, required=True)


class CapArgs(WindowArgs, FormatArgs):
    pass


class RunOut(Schema):
    source = fields.Str(required=True)
    started = fields.Int(required=True)
    finished = fields.Int(required=True)
    status = fields.Str(required=True)
    stored = fields.Int(required=True)
    duplicates = fields.Int(required=True)
    rejected = fields.Int(required=True)
    retries = fields.Int(required=True)
    error = fields.Str(allow_none=True, required=True)
    cooldown_until = fields.Int(allow_none=True, required=True)
    flag = fields.Str(
        allow_none=True,
        required=True,
        metadata={
            "description": "set when this run took its source past REJECTIONS_ALERT rejections in an hour"
        },
    )


class RejectionArgs(FormatArgs):
    source = fields.Str(metadata={"description": "only this source (an exchange, or coingecko)"})
    limit = fields.Int(load_default=100, validate=validate.Range(1, 10000))


class RejectionSummaryArgs(FormatArgs):
    source = fields.Str(metadata={"description": "only this source (an exchange, or coingecko)"})


class RejectionOut(Schema):
    source = fields.Str(required=True)
    endpoint = fields.Str(
        required=True,
        metadata={"description": "what was read: tickers, order book, ohlcv 1h, import FILE ..."},
    )
    pair = fields.Str(
        allow_none=True, required=True, metadata={"description": "null: a payload not of one pair"}
    )
    reason = fields.Str(required=True)
    ts = fields.Int(required=True, metadata={"description": "when it was rejected"})


class RejectionGroupOut(Schema):
    source = fields.Str(required=True)
    endpoint = fields.Str(required=True)
    reason = fields.Str(required=True, metadata={"description": "the reason with its values masked as …"})
    count = fields.Int(required=True)
    last_ts = fields.Int(required=True, metadata={"description": "when the newest was rejected"})
    example_pair = fields.Str(
        allow_none=True, required=True, metadata={"description": "the newest one's pair"}
    )
    example_reason = fields.Str(required=True, metadata={"description": "the newest one's reason"})


CSV_RESPONSE = {
    "description": "rows as JSON, or as CSV with format=csv or Accept: text/csv",
    "content_type": "text/csv",
    "schema": {"type": "string"},
    "success": True,
}


def _wants_csv(args: dict) -> bool:
    """format=csv, or an Accept header that prefers text/csv to JSON (JSON wins ties and */*)."""
    if args.get("format"):
        return args["format"] == "csv"
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


def _rows(data: Any, schema: Schema, args: dict, name: str) -> Any:
    """Return ``data`` for flask-smorest to serialise, or the same rows as a CSV response."""
    if not _wants_csv(args):
        return data
    rows = schema.dump(data, many=True)
    out = io.StringIO()
    fieldnames = [f.data_key or name for name, f in schema.dump_fields.items()]
    writer = csv.DictWriter(out, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return Response(
        out.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f'inline; filename="{name}.csv"'}
    )


def _window(args: dict) -> insights.Window:
    try:
        return insights.resolve_window(args.get("window"), args.get("start"), args.get("end"))
    except insights.BadRequest as error:
        abort(400, message=str(error))


def _call(fn, *args, **kwargs):
    """Run an insights function; unknown names are 404s, impossible requests 400/422."""
    try:
        return fn(*args, **kwargs)
    except insights.NotFound as error:
        abort(404, message=str(error))
    except insights.BadRequest as error:
        abort(400, message=str(error))
    except ValueError as error:  # too few ticks in the window
        abort(422, message=str(error))


# -- endpoints ----------------------------------------------------------------


@bp.get("/exchanges")
@bp.arguments(FormatArgs, location="query")
@bp.response(200, ExchangeOut(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def exchanges(args):
    """Exchanges with stored markets."""
    rows = db.session.execute(
        select(Exchange.name, db.func.count(Market.id))
        .join(Market.exchange)
        .group_by(Exchange.name)
        .order_by(Exchange.name)
    ).all()
    data = [{"exchange": name, "markets": count} for name, count in rows]
    return _rows(data, ExchangeOut(), args, "exchanges")


@bp.get("/exchanges/<exchange>/similar")
@bp.arguments(SimilarArgs, location="query")
@bp.response(200, SimilarOut)
@bp.alt_response(200, **{**CSV_RESPONSE, "description": "the similar exchanges alone as CSV rows"})
def similar_exchanges(args, exchange):
    """Exchanges listing the same pairs (stored by `flask similar`): shared count and Jaccard index,
    the volume trend of the markets both list over the lookback, and the outlier-price check."""
    result = _call(
        similar.configured_answer,
        db.session,
        current_app.config,
        exchange,
        args.get("lookback"),
        args.get("top"),
    )
    if _wants_csv(args):
        return _rows(result["similar"], SimilarRowOut(exclude=("volume",)), args, f"{exchange}-similar")
    return result


@bp.get("/markets")
@bp.arguments(FormatArgs, location="query")
@bp.response(200, MarketOut(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def markets(args):
    """Every market with its latest tick."""
    data = [
        {"exchange": e, "pair": p, "ts": t.ts, "last": t.last, "bid": t.bid, "ask": t.ask}
        for e, p, t in storage.latest_ticks(db.session)
    ]
    return _rows(data, MarketOut(), args, "markets")


@bp.get("/markets/<exchange>/<pair:pair>/prices")
@bp.arguments(PricesArgs, location="query")
@bp.response(200, PricePoint(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def prices(args, exchange, pair):
    """Prices of one market over a window; ``points`` downsamples keeping min/max/last per bucket."""
    data = _call(insights.series, db.session, exchange, pair, _window(args), args["points"])
    return _rows(data, PricePoint(), args, f"{exchange}-{pair}-prices")


@bp.get("/markets/<exchange>/<pair:pair>/stats")
@bp.arguments(WindowArgs, location="query")
@bp.response(200, StatsOut)
def market_stats(args, exchange, pair):
    """Statistics of one market over a window (definitions in the README)."""
    window = _window(args)
    result = _call(insights.market_stats, db.session, exchange, pair, window)
    return {
        "exchange": exchange,
        "pair": insights.split_pair(pair),
        "window": window.name,
        **insights.stats_dict(result),
    }


@bp.get("/markets/<exchange>/<pair:pair>/gaps")
@bp.arguments(GapArgs, location="query")
@bp.response(200, GapsOut)
@bp.alt_response(200, **{**CSV_RESPONSE, "description": "the gaps alone as CSV rows (from, to, seconds)"})
def market_gaps(args, exchange, pair):
    """Intervals with no tick for longer than k x the collection interval; coverage % of the window."""
    interval = float(current_app.config["COLLECT_INTERVAL"])
    result = _call(insights.gaps, db.session, exchange, pair, _window(args), interval, args["k"])
    if _wants_csv(args):
        return _rows(result["gaps"], Gap(), args, f"{exchange}-{pair}-gaps")
    return result


@bp.get("/markets/<exchange>/<pair:pair>/book")
@bp.arguments(BookArgs, location="query")
@bp.response(200, BookOut)
@bp.alt_response(200, **{**CSV_RESPONSE, "description": "the series alone as CSV rows"})
def market_book(args, exchange, pair):
    """Order-book insights over a window (from `flask collect --books`): highest bid, lowest ask,
    spread, depth, the mid-price series and a naive linear trend of the mid (not advice)."""
    horizon = args.get("horizon") or current_app.config["BOOK_FORECAST_HORIZON"]
    try:
        horizon_ms = parse_duration(horizon)
    except ValueError as error:
        abort(400, message=f"horizon: {error}")
    result = _call(orderbook.book, db.session, exchange, pair, _window(args), horizon_ms, args["points"])
    if _wants_csv(args):
        return _rows(result["series"], BookPoint(), args, f"{exchange}-{pair}-book")
    return result


@bp.get("/markets/<exchange>/<pair:pair>/candles")
@bp.arguments(CandleArgs, location="query")
@bp.response(200, CandleOut(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def market_candles(args, exchange, pair):
    """OHLCV candles: stored ones where they exist, the rest resampled from ticks; with EMA(fast),
    EMA(slow) and the crossovers."""
    data = _call(
        insights.candles,
        db.session,
        exchange,
        pair,
        args["timeframe"],
        _window(args),
        args["fast"],
        args["slow"],
    )
    return _rows(data, CandleOut(), args, f"{exchange}-{pair}-candles")


@bp.get("/signals")
@bp.arguments(SignalArgs, location="query")
@bp.response(200, SignalOut(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def signals(args):
    """EMA crossovers (golden/death) of every market's candles within the last `within`, newest first."""
    data = _call(
        insights.signals,
        db.session,
        args["timeframe"],
        _window(args),
        insights.WINDOWS[args["within"]],
        args["fast"],
        args["slow"],
    )
    return _rows(data, SignalOut(), args, "signals")


@bp.get("/caps")
@bp.arguments(CapArgs, location="query")
@bp.response(200, CapOut(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def caps(args):
    """Market-cap ranks (CoinGecko snapshots): each coin's latest, with its rank change over the window."""
    return _rows(_call(insights.caps, db.session, _window(args)), CapOut(), args, "caps")


@bp.get("/caps/<coin>")
@bp.arguments(CapArgs, location="query")
@bp.response(200, CapPoint(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def cap_history(args, coin):
    """One coin's market-cap snapshots over the window, oldest first."""
    return _rows(
        _call(insights.cap_history, db.session, coin, _window(args)), CapPoint(), args, f"{coin}-caps"
    )


@bp.get("/rankings")
@bp.arguments(RankingArgs, location="query")
@bp.response(200, RankingRow(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def rankings(args):
    """Markets ranked by a metric over a window (rank 1 = highest)."""
    data = _call(
        insights.rankings,
        db.session,
        args["metric"],
        _window(args),
        exchange=args.get("exchange"),
        quote=args.get("quote"),
        limit=args["limit"],
        order=args["order"],
    )
    return _rows(data, RankingRow(), args, "rankings")


@bp.get("/pairs/<pair:pair>")
@bp.arguments(WindowArgs, location="query")
@bp.response(200, PairOut)
def pair(args, pair):
    """One pair across exchanges: latest prices, their spread, and each exchange's pct_change."""
    return _call(insights.pair_across_exchanges, db.session, pair, _window(args))


@bp.get("/runs")
@bp.arguments(RunArgs, location="query")
@bp.response(200, RunOut(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def runs(args):
    """Recent collection runs, newest first: collector health per source."""
    data = storage.recent_runs(db.session, limit=args["limit"], source=args.get("source"))
    return _rows(data, RunOut(), args, "runs")


@bp.get("/rejections")
@bp.arguments(RejectionArgs, location="query")
@bp.response(200, RejectionOut(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def rejections(args):
    """The validation report: kept rejected values and payloads (collect, backfill, import), newest first."""
    data = storage.read_rejections(db.session, source=args.get("source"), limit=args["limit"])
    return _rows(data, RejectionOut(), args, "rejections")


@bp.get("/rejections/summary")
@bp.arguments(RejectionSummaryArgs, location="query")
@bp.response(200, RejectionGroupOut(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def rejection_summary(args):
    """Kept rejections grouped by source, endpoint and reason (values masked), with counts, the newest
    time and the newest example; by source, then the largest group first."""
    data = storage.rejection_summary(db.session, source=args.get("source"))
    return _rows(data, RejectionGroupOut(), args, "rejections-summary")


class ResponseCache:
    """Finished GET responses of this process, keyed by URL, Accept, data version and minute.

    A key can only hit while nothing was written (every write bumps the data
    version) and within the minute that windows ending now are aligned to, so a
    hit is the answer the view would compute.
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._entries: OrderedDict[tuple, tuple[bytes, str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> tuple[bytes, str, str] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple, entry: tuple[bytes, str, str]) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


cache = ResponseCache()


def _finish(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


@bp.before_request
def from_cache() -> Response | None:
    """Answer a GET from the cache when nothing changed since it was computed."""
    if request.method != "GET":
        return None
    g.cache_key = (
        request.full_path,
        request.headers.get("Accept", ""),
        storage.data_version(db.session),
        insights.minute_now(),
    )
    entry = cache.get(g.cache_key)
    if entry is None:
        return None
    body, mimetype, etag = entry
    response = Response(body, mimetype=mimetype)
    response.set_etag(etag)
    return _finish(response)


@bp.after_request
def to_cache(response: Response) -> Response:
    """ETag every successful GET (an unchanged refresh costs a 304) and keep it for the next asker."""
    if request.method == "GET" and response.status_code == 200 and not response.direct_passthrough:
        response.add_etag()
        key = g.pop("cache_key", None)
        if key is not None:
            cache.put(key, (response.get_data(), response.mimetype, response.get_etag()[0]))
        return _finish(response)
    return response


def init_app(app) -> None:
    """Register the API, its OpenAPI document and the offline docs page."""
    app.config.setdefault("API_TITLE", "cryptocrunch")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", f"{PREFIX}/docs/assets/")
    api.init_app(app)
    api.register_converter(PairConverter, _pair_schema)
    api.register_blueprint(bp)

    @app.get(f"{PREFIX}/docs/assets/<path:filename>")
    def swagger_assets(filename):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)
