"""Markets: every market's latest tick, the markets table (sorted, filtered, paged), one market's
prices, statistics and gaps."""

from __future__ import annotations

from flask import current_app
from marshmallow import Schema, fields, validate

from ...db import db
from ...insights.params import DEFAULT_POINTS, MAX_PER_PAGE, MAX_POINTS, SORTS, split_pair
from .common import CSV_RESPONSE, FormatArgs, WindowArgs, call, child, rows, wants_csv, window_of

bp = child("markets", "Markets: latest ticks, the markets table, prices, statistics, gaps")


class PricesArgs(WindowArgs, FormatArgs):
    points = fields.Int(
        load_default=DEFAULT_POINTS,
        validate=validate.Range(2, MAX_POINTS),
        metadata={
            "description": "at most this many points: raw ticks when they fit, else min/max/last per bucket"
        },
    )


class GapArgs(WindowArgs, FormatArgs):
    k = fields.Float(load_default=3.0, validate=validate.Range(min=0, min_inclusive=False))


class MarketOut(Schema):
    exchange = fields.Str(required=True)
    pair = fields.Str(required=True)
    ts = fields.Int(allow_none=True, required=True)
    last = fields.Float(allow_none=True, required=True)
    bid = fields.Float(allow_none=True, required=True)
    ask = fields.Float(allow_none=True, required=True)


class TableArgs(WindowArgs, FormatArgs):
    q = fields.Str(metadata={"description": "part of the pair or exchange name, any case"})
    exchange = fields.Str(metadata={"description": "only this exchange"})
    quote = fields.Str(metadata={"description": "only pairs in this quote currency (USD)"})
    sort = fields.Str(load_default="pair", validate=validate.OneOf(SORTS))
    order = fields.Str(load_default="asc", validate=validate.OneOf(["asc", "desc"]))
    page = fields.Int(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Int(load_default=50, validate=validate.Range(1, MAX_PER_PAGE))


class TableRow(Schema):
    exchange = fields.Str(required=True)
    pair = fields.Str(required=True)
    ts = fields.Int(required=True, metadata={"description": "the latest tick's"})
    last = fields.Float(required=True)
    bid = fields.Float(allow_none=True, required=True)
    ask = fields.Float(allow_none=True, required=True)
    base_volume = fields.Float(
        allow_none=True, required=True, metadata={"description": "24 h, as the exchange reports it"}
    )
    quote_volume = fields.Float(allow_none=True, required=True)
    n = fields.Int(required=True, metadata={"description": "ticks in the window"})
    pct_change = fields.Float(allow_none=True, required=True, metadata={"description": "null below 3 ticks"})
    volatility = fields.Float(allow_none=True, required=True)
    volatility_rank = fields.Int(
        allow_none=True, required=True, metadata={"description": "among every market, 1 = most volatile"}
    )


class TableOut(Schema):
    total = fields.Int(required=True, metadata={"description": "markets matching the filters"})
    page = fields.Int(required=True)
    per_page = fields.Int(required=True)
    pages = fields.Int(required=True)
    sort = fields.Str(required=True)
    order = fields.Str(required=True)
    window = fields.Str(required=True)
    exchanges = fields.List(fields.Str(), required=True, metadata={"description": "every exchange stored"})
    quotes = fields.List(fields.Str(), required=True, metadata={"description": "every quote currency stored"})
    markets = fields.List(fields.Nested(TableRow), required=True)


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


@bp.get("/markets")
@bp.arguments(FormatArgs, location="query")
@bp.response(200, MarketOut(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def latest(args):
    """Every market with its latest tick."""
    from ...storage import ticks

    data = [
        {"exchange": e, "pair": p, "ts": t.ts, "last": t.last, "bid": t.bid, "ask": t.ask}
        for e, p, t in ticks.latest_ticks(db.session)
    ]
    return rows(data, MarketOut(), args, "markets")


@bp.get("/markets/table")
@bp.arguments(TableArgs, location="query")
@bp.response(200, TableOut)
@bp.alt_response(200, **{**CSV_RESPONSE, "description": "the page's rows alone as CSV"})
def table(args):
    """One page of every market with its latest tick and its % change and volatility (rank) over
    the window, filtered and sorted (blanks last, ties by pair then exchange); the dashboard's table."""
    from ...insights import table as market_table

    options = {k: args[k] for k in ("sort", "order", "page", "per_page")}
    filters = {k: args.get(k) for k in ("q", "exchange", "quote")}
    result = call(market_table.table, db.session, window_of(args), **options, **filters)
    if wants_csv(args):
        return rows(result["markets"], TableRow(), args, "markets-table")
    return result


@bp.get("/markets/<exchange>/<pair:pair>/prices")
@bp.arguments(PricesArgs, location="query")
@bp.response(200, PricePoint(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def prices(args, exchange, pair):
    """Prices of one market over a window; ``points`` downsamples keeping min/max/last per bucket."""
    from ...insights import markets

    data = call(markets.series, db.session, exchange, pair, window_of(args), args["points"])
    return rows(data, PricePoint(), args, f"{exchange}-{pair}-prices")


@bp.get("/markets/<exchange>/<pair:pair>/stats")
@bp.arguments(WindowArgs, location="query")
@bp.response(200, StatsOut)
def market_stats(args, exchange, pair):
    """Statistics of one market over a window (definitions in the README)."""
    from ...insights import markets

    window = window_of(args)
    result = call(markets.market_stats, db.session, exchange, pair, window)
    return {
        "exchange": exchange,
        "pair": split_pair(pair),
        "window": window.name,
        **markets.stats_dict(result),
    }


@bp.get("/markets/<exchange>/<pair:pair>/gaps")
@bp.arguments(GapArgs, location="query")
@bp.response(200, GapsOut)
@bp.alt_response(200, **{**CSV_RESPONSE, "description": "the gaps alone as CSV rows (from, to, seconds)"})
def market_gaps(args, exchange, pair):
    """Intervals with no tick for longer than k x the collection interval; coverage % of the window."""
    from ...insights import markets

    interval = float(current_app.config["COLLECT_INTERVAL"])
    result = call(markets.gaps, db.session, exchange, pair, window_of(args), interval, args["k"])
    if wants_csv(args):
        return rows(result["gaps"], Gap(), args, f"{exchange}-{pair}-gaps")
    return result
