"""One pair across exchanges."""

from __future__ import annotations

from marshmallow import Schema, fields

from ...db import db
from .common import WindowArgs, call, child, window_of
from .markets import StatsCore

bp = child("pairs", "One pair across exchanges")


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


@bp.get("/pairs/<pair:pair>")
@bp.arguments(WindowArgs, location="query")
@bp.response(200, PairOut)
def pair(args, pair):
    """One pair across exchanges: latest prices, their spread, and each exchange's pct_change."""
    from ...insights import markets

    return call(markets.pair_across_exchanges, db.session, pair, window_of(args))
