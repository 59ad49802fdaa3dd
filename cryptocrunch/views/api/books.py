"""Order-book insights of one market."""

from __future__ import annotations

from flask import current_app
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from ...clock import parse_duration
from ...db import db
from ...insights.params import DEFAULT_POINTS, MAX_POINTS
from .common import CSV_RESPONSE, FormatArgs, WindowArgs, call, child, rows, wants_csv, window_of

bp = child("books", "Order-book insights")


class BookArgs(WindowArgs, FormatArgs):
    horizon = fields.Str(
        metadata={
            "description": "how far past the last book top to extrapolate, like 15m, 1h or 1d; "
            "default BOOK_FORECAST_HORIZON"
        }
    )
    points = fields.Int(
        load_default=DEFAULT_POINTS,
        validate=validate.Range(2, MAX_POINTS),
        metadata={"description": "at most this many series rows (per bucket: last prices, widest spread)"},
    )


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


@bp.get("/markets/<exchange>/<pair:pair>/book")
@bp.arguments(BookArgs, location="query")
@bp.response(200, BookOut)
@bp.alt_response(200, **{**CSV_RESPONSE, "description": "the series alone as CSV rows"})
def market_book(args, exchange, pair):
    """Order-book insights over a window (from `flask collect --books`): highest bid, lowest ask,
    spread, depth, the mid-price series and a naive linear trend of the mid (not advice)."""
    from ...insights import books

    horizon = args.get("horizon") or current_app.config["BOOK_FORECAST_HORIZON"]
    try:
        horizon_ms = parse_duration(horizon)
    except ValueError as error:
        abort(400, message=f"horizon: {error}")
    result = call(books.book, db.session, exchange, pair, window_of(args), horizon_ms, args["points"])
    if wants_csv(args):
        return rows(result["series"], BookPoint(), args, f"{exchange}-{pair}-book")
    return result
