"""Collection runs and the validation report (rejections)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ...db import db
from ...storage import runs
from .common import CSV_RESPONSE, FormatArgs, child, rows

bp = child("runs", "Collector runs and rejections")


class RunArgs(FormatArgs):
    limit = fields.Int(load_default=50, validate=validate.Range(1, 1000))
    source = fields.Str()


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


@bp.get("/runs")
@bp.arguments(RunArgs, location="query")
@bp.response(200, RunOut(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def recent_runs(args):
    """Recent collection runs, newest first: collector health per source."""
    data = runs.recent_runs(db.session, limit=args["limit"], source=args.get("source"))
    return rows(data, RunOut(), args, "runs")


@bp.get("/rejections")
@bp.arguments(RejectionArgs, location="query")
@bp.response(200, RejectionOut(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def rejections(args):
    """The validation report: kept rejected values and payloads (collect, backfill, import), newest first."""
    data = runs.read_rejections(db.session, source=args.get("source"), limit=args["limit"])
    return rows(data, RejectionOut(), args, "rejections")


@bp.get("/rejections/summary")
@bp.arguments(RejectionSummaryArgs, location="query")
@bp.response(200, RejectionGroupOut(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def rejection_summary(args):
    """Kept rejections grouped by source, endpoint and reason (values masked), with counts, the newest
    time and the newest example; by source, then the largest group first."""
    data = runs.rejection_summary(db.session, source=args.get("source"))
    return rows(data, RejectionGroupOut(), args, "rejections-summary")
