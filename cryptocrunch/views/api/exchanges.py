"""Exchanges with stored markets, and the exchanges similar to one."""

from __future__ import annotations

from flask import current_app
from marshmallow import Schema, fields, validate

from ...db import db
from .common import CSV_RESPONSE, FormatArgs, call, child, rows, wants_csv

bp = child("exchanges", "Exchanges and similar exchanges")


class SimilarArgs(FormatArgs):
    top = fields.Int(validate=validate.Range(1, 100), metadata={"description": "default SIMILAR_TOP"})
    lookback = fields.Str(
        metadata={"description": "volume window like 24h, 7d or 2w; default SIMILAR_LOOKBACK"}
    )


class ExchangeOut(Schema):
    exchange = fields.Str(required=True)
    markets = fields.Int(required=True)


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


@bp.get("/exchanges")
@bp.arguments(FormatArgs, location="query")
@bp.response(200, ExchangeOut(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def exchanges(args):
    """Exchanges with stored markets."""
    from ...storage import markets

    data = [{"exchange": name, "markets": count} for name, count in markets.exchange_counts(db.session)]
    return rows(data, ExchangeOut(), args, "exchanges")


@bp.get("/exchanges/<exchange>/similar")
@bp.arguments(SimilarArgs, location="query")
@bp.response(200, SimilarOut)
@bp.alt_response(200, **{**CSV_RESPONSE, "description": "the similar exchanges alone as CSV rows"})
def similar_exchanges(args, exchange):
    """Exchanges listing the same pairs (stored by `flask similar`): shared count and Jaccard index,
    the volume trend of the markets both list over the lookback, and the outlier-price check."""
    from ...insights import similar

    result = call(
        similar.configured_answer,
        db.session,
        current_app.config,
        exchange,
        args.get("lookback"),
        args.get("top"),
    )
    if wants_csv(args):
        return rows(result["similar"], SimilarRowOut(exclude=("volume",)), args, f"{exchange}-similar")
    return result
