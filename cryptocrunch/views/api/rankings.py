"""Markets ranked by a statistic over a window."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ...db import db
from ...insights.params import METRICS
from .common import CSV_RESPONSE, FormatArgs, WindowArgs, call, child, rows, window_of

bp = child("rankings", "Markets ranked by a statistic")


class RankingArgs(WindowArgs, FormatArgs):
    metric = fields.Str(load_default="volatility", validate=validate.OneOf(METRICS))
    exchange = fields.Str()
    quote = fields.Str()
    limit = fields.Int(load_default=20, validate=validate.Range(1, 1000))
    order = fields.Str(
        load_default="desc",
        validate=validate.OneOf(["desc", "asc"]),
        metadata={"description": "asc for losers"},
    )


class RankingRow(Schema):
    rank = fields.Int(required=True)
    exchange = fields.Str(required=True)
    pair = fields.Str(required=True)
    value = fields.Float(required=True)
    n = fields.Int(required=True)
    first_ts = fields.Int(required=True)
    last_ts = fields.Int(required=True)


@bp.get("/rankings")
@bp.arguments(RankingArgs, location="query")
@bp.response(200, RankingRow(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def rankings(args):
    """Markets ranked by a metric over a window (rank 1 = highest)."""
    from ...insights import markets

    data = call(
        markets.rankings,
        db.session,
        args["metric"],
        window_of(args),
        exchange=args.get("exchange"),
        quote=args.get("quote"),
        limit=args["limit"],
        order=args["order"],
    )
    return rows(data, RankingRow(), args, "rankings")
