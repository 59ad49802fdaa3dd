"""Candles with EMAs and crossovers, and the crossover scan of every market."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ...clock import TIMEFRAMES
from ...db import db
from ...insights.params import resolve_within
from .common import CSV_RESPONSE, FormatArgs, WindowArgs, call, child, rows, wants_csv, window_of

bp = child("candles", "Candles, EMAs and crossover signals")


class CandleArgs(WindowArgs, FormatArgs):
    timeframe = fields.Str(load_default="1h", validate=validate.OneOf(list(TIMEFRAMES)))
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
        metadata={
            "description": "only crossovers this recent: a duration (90m, 24h, 7d, 2w; default 24h),"
            " or within_start/within_end"
        }
    )
    within_start = fields.Str(
        metadata={"description": "only crossovers from then on: ISO 8601 with zone, or epoch ms"}
    )
    within_end = fields.Str(
        metadata={"description": "only crossovers until then (inclusive): ISO 8601 with zone, or epoch ms"}
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


class SkippedOut(Schema):
    exchange = fields.Str(required=True)
    pair = fields.Str(required=True)
    reason = fields.Str(required=True, metadata={"description": "why it was left out, and what to do"})


class SignalsOut(Schema):
    signals = fields.List(fields.Nested(SignalOut), required=True, metadata={"description": "newest first"})
    skipped = fields.List(
        fields.Nested(SkippedOut),
        required=True,
        metadata={"description": "markets not scanned: more candles in the window than one answer holds"},
    )


@bp.get("/markets/<exchange>/<pair:pair>/candles")
@bp.arguments(CandleArgs, location="query")
@bp.response(200, CandleOut(many=True))
@bp.alt_response(200, **CSV_RESPONSE)
def market_candles(args, exchange, pair):
    """OHLCV candles: stored ones where they exist, the rest resampled from ticks; with EMA(fast),
    EMA(slow) and the crossovers."""
    from ...insights import candles

    data = call(
        candles.candles,
        db.session,
        exchange,
        pair,
        args["timeframe"],
        window_of(args),
        args["fast"],
        args["slow"],
    )
    return rows(data, CandleOut(), args, f"{exchange}-{pair}-candles")


@bp.get("/signals")
@bp.arguments(SignalArgs, location="query")
@bp.response(200, SignalsOut)
@bp.alt_response(200, **{**CSV_RESPONSE, "description": "the signals alone as CSV rows"})
def signals(args):
    """EMA crossovers (golden/death) of every market's candles within `within`, newest first, and
    the markets the scan had to skip."""
    from ...insights import candles

    within = call(resolve_within, args.get("within"), args.get("within_start"), args.get("within_end"))
    found = call(
        candles.signals, db.session, args["timeframe"], window_of(args), within, args["fast"], args["slow"]
    )
    if wants_csv(args):
        return rows(found["signals"], SignalOut(), args, "signals")
    return found
