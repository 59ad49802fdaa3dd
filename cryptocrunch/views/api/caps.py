"""Market-cap ranks and one coin's history."""

from __future__ import annotations

from marshmallow import Schema, fields

from ...db import db
from .common import CSV_RESPONSE, FormatArgs, WindowArgs, call, child, rows, window_of

bp = child("caps", "Market caps and ranks")


class CapArgs(WindowArgs, FormatArgs):
    pass


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


@bp.get("/caps")
@bp.arguments(CapArgs, location="query")
@bp.response(200, CapOut(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def ranks(args):
    """Market-cap ranks (CoinGecko snapshots): each coin's latest, with its rank change over the window."""
    from ...insights import caps

    return rows(call(caps.caps, db.session, window_of(args)), CapOut(), args, "caps")


@bp.get("/caps/<coin>")
@bp.arguments(CapArgs, location="query")
@bp.response(200, CapPoint(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def cap_history(args, coin):
    """One coin's market-cap snapshots over the window, oldest first."""
    from ...insights import caps

    return rows(call(caps.cap_history, db.session, coin, window_of(args)), CapPoint(), args, f"{coin}-caps")
