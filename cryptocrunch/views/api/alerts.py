"""A signed-in user's alert rules and their events. Another user's rule id answers 404."""

from __future__ import annotations

from flask_login import current_user, login_required
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from ...db import db
from .common import child

bp = child("alerts", "Your alert rules and their events (sign in or send an API token)", cached=False)


def _state_name(state):
    from ...analysis.alerts import STATES  # numpy: loaded with the first rule, not at start-up

    return STATES[state]


class RuleIn(Schema):
    pair = fields.Str(required=True, metadata={"example": "BTC/USDT"})
    exchange = fields.Str(load_default=None, metadata={"description": "omitted: the cross-exchange median"})
    kind = fields.Str(
        required=True, metadata={"description": "price, change, move, volatility, spread or signal"}
    )
    op = fields.Str(load_default=None)
    value = fields.Float(load_default=None, metadata={"description": "the level; none for signal rules"})
    window = fields.Str(
        load_default=None, metadata={"description": "change, move, volatility: like 1h or 24h"}
    )
    timeframe = fields.Str(load_default=None, metadata={"description": "signal: 1m, 5m, 1h or 1d"})
    fast = fields.Int(load_default=None, metadata={"description": "signal: fast EMA span (12)"})
    slow = fields.Int(load_default=None, metadata={"description": "signal: slow EMA span (26)"})
    repeat = fields.Str(load_default="rearm", validate=validate.OneOf(["once", "rearm"]))
    hysteresis_pct = fields.Float(load_default=0.0)
    cooldown = fields.Str(load_default=None, metadata={"description": "least time between firings, like 15m"})
    expires = fields.Str(
        load_default=None, metadata={"description": "ISO 8601 with a time zone, or epoch ms"}
    )
    channels = fields.List(fields.Int(), load_default=list)
    note = fields.Str(load_default=None, validate=validate.Length(max=2000))


class RuleOut(Schema):
    id = fields.Int(required=True)
    pair = fields.Str(required=True)
    exchange = fields.Str(allow_none=True, required=True)
    kind = fields.Str(required=True)
    op = fields.Str(required=True)
    value = fields.Float(required=True)
    window_ms = fields.Int(allow_none=True, required=True)
    timeframe = fields.Str(allow_none=True, required=True)
    fast = fields.Int(allow_none=True, required=True)
    slow = fields.Int(allow_none=True, required=True)
    repeat = fields.Str(required=True)
    hysteresis_pct = fields.Float(required=True)
    cooldown_ms = fields.Int(required=True)
    expires = fields.Int(allow_none=True, required=True)
    note = fields.Str(allow_none=True, required=True)
    paused = fields.Bool(required=True)
    state = fields.Function(lambda rule: _state_name(rule.state), required=True)
    last_fired = fields.Int(allow_none=True, required=True)
    channels = fields.Function(lambda rule: [c.id for c in rule.channels], required=True)
    created = fields.Int(required=True)


class EventOut(Schema):
    id = fields.Int(required=True)
    ts = fields.Int(required=True, metadata={"description": "the observation's time"})
    observed = fields.Float(allow_none=True, required=True)
    title = fields.Str(required=True)
    message = fields.Str(required=True)
    created = fields.Int(required=True)
    held = fields.Bool(required=True, metadata={"description": "past ALERTS_MAX_PER_HOUR: kept, not sent"})


def _own(rule_id):
    from ...storage import alerts

    rule = alerts.user_rule(db.session(), current_user.id, rule_id)
    if rule is None:
        abort(404, message=f"no alert rule {rule_id}")
    return rule


@bp.post("/alerts")
@login_required
@bp.arguments(RuleIn)
@bp.response(201, RuleOut)
def add_rule(data):
    """Add an alert rule (README "Alerts": kinds, ops, semantics)."""
    from ...alerts.rules import RuleError, add
    from ...clock import now_ms

    session = db.session()
    try:
        rule = add(session, current_user.id, data, now_ms())
    except RuleError as error:
        abort(422, message=str(error))
    session.commit()
    return rule


@bp.get("/alerts")
@login_required
@bp.response(200, RuleOut(many=True))
def list_rules():
    """Your alert rules, oldest first."""
    from ...storage import alerts

    return alerts.user_rules(db.session(), current_user.id)


@bp.get("/alerts/<int:rule_id>")
@login_required
@bp.response(200, RuleOut)
def get_rule(rule_id):
    """One of your alert rules."""
    return _own(rule_id)


def _set_paused(rule_id, paused):
    from ...clock import now_ms
    from ...storage import alerts

    rule = _own(rule_id)
    alerts.set_paused(rule, paused, now_ms())
    db.session.commit()
    return rule


@bp.post("/alerts/<int:rule_id>/pause")
@login_required
@bp.response(200, RuleOut)
def pause_rule(rule_id):
    """Pause a rule: it sees nothing until resumed (ticks in between are skipped, not caught up)."""
    return _set_paused(rule_id, True)


@bp.post("/alerts/<int:rule_id>/resume")
@login_required
@bp.response(200, RuleOut)
def resume_rule(rule_id):
    """Resume a paused rule from now on."""
    return _set_paused(rule_id, False)


@bp.delete("/alerts/<int:rule_id>")
@login_required
@bp.response(204)
def delete_rule(rule_id):
    """Delete a rule and its events."""
    db.session.delete(_own(rule_id))
    db.session.commit()


@bp.get("/alerts/<int:rule_id>/events")
@login_required
@bp.response(200, EventOut(many=True))
def rule_events(rule_id):
    """A rule's events (its firings), newest first."""
    from ...storage import alerts

    return alerts.rule_events(db.session(), _own(rule_id).id)
