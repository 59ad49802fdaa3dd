"""Sparklines: short downsampled price series of many markets in one request."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ...db import db
from ...insights.params import MAX_SPARKLINE_POINTS, MAX_SPARKLINES
from .common import WindowArgs, call, child, window_of

bp = child("sparklines", "Short price series of many markets at once")


class SparklineArgs(WindowArgs):
    markets = fields.Str(
        required=True,
        metadata={
            "description": f"exchange:BASE-QUOTE, comma-separated, at most {MAX_SPARKLINES}",
            "example": "kraken:BTC-USD,binance:ETH-USDT",
        },
    )
    points = fields.Int(load_default=48, validate=validate.Range(2, MAX_SPARKLINE_POINTS))


class Sparkline(Schema):
    exchange = fields.Str(required=True)
    pair = fields.Str(required=True)
    ts = fields.List(fields.Int(), required=True)
    last = fields.List(fields.Float(), required=True)


class Missing(Schema):
    exchange = fields.Str(required=True)
    pair = fields.Str(required=True)
    reason = fields.Str(required=True)


class SparklinesOut(Schema):
    window = fields.Str(required=True)
    points = fields.Int(required=True)
    sparklines = fields.List(fields.Nested(Sparkline), required=True)
    missing = fields.List(fields.Nested(Missing), required=True)


@bp.get("/sparklines")
@bp.arguments(SparklineArgs, location="query")
@bp.response(200, SparklinesOut)
def sparklines(args):
    """Each named market's last prices over the window, at most ``points`` each: the ``last``
    column of its ``/prices`` with the same window and points. Markets not stored are listed in
    ``missing`` with the reason."""
    from ...insights import table

    wanted = call(table.parse_markets, args["markets"])
    return call(table.sparklines, db.session, wanted, window_of(args), args["points"])
