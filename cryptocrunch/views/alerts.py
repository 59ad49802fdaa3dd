"""``/alerts``: the signed-in user's alert rules (add, pause, resume, delete) and their recent events
with each delivery's status; the HTML twin of ``/api/v1/alerts``. Rules are checked by
``alerts.rules`` exactly as for the API; another user's rule id is not found.

The rule module (numpy, pandas) and the storage reads are imported in the view bodies, so start-up
does not load them; the form's kinds and ops are filled in when a page is built."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from ..auth.forms import ActionForm
from ..clock import DURATION_UNITS, TIMEFRAMES, now_ms
from ..db import db

bp = Blueprint("alerts", __name__)

#: How many of the user's newest events the page shows.
EVENTS_SHOWN = 50
MEDIAN = "median of exchanges"


class RuleForm(FlaskForm):
    """A new alert rule, field for field the API's JSON; ``alerts.rules.check`` judges it. The
    choices that depend on what is collected and on the user (exchanges, kinds, ops, channels)
    are set by ``_rule_form``."""

    pair = StringField(
        "Pair",
        validators=[InputRequired(), Length(max=64)],
        description="A collected pair, like BTC/USDT.",
        render_kw={"list": "pair-list", "autocomplete": "off", "spellcheck": "false"},
    )
    exchange = SelectField("Exchange", description="Empty: the median of every exchange that has the pair.")
    kind = SelectField("Kind")
    op = SelectField("Condition", description="Each kind takes the conditions listed after it.")
    value = StringField(
        "Value",
        description="The level: a price, a % (change, move), a volatility, bps (spread); none for signal.",
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    window = StringField(
        "Window",
        description="change, move, volatility: like 1h or 24h.",
        render_kw={"autocomplete": "off"},
    )
    timeframe = SelectField(
        "Timeframe",
        choices=[SelectChoice("", "none"), *(SelectChoice(t) for t in TIMEFRAMES)],
        description="signal only: the candles' timeframe.",
    )
    fast = StringField(
        "Fast EMA", description="signal only (default 12).", render_kw={"inputmode": "numeric", "size": 4}
    )
    slow = StringField(
        "Slow EMA", description="signal only (default 26).", render_kw={"inputmode": "numeric", "size": 4}
    )
    repeat = SelectField(
        "Repeat",
        choices=[
            SelectChoice("rearm", "rearm: again once the value has cleared the level"),
            SelectChoice("once", "once: then done"),
        ],
    )
    hysteresis_pct = StringField(
        "Hysteresis %",
        description="How far past the level the value must come back before a rearm rule fires again.",
        render_kw={"inputmode": "decimal", "autocomplete": "off", "placeholder": "0"},
    )
    cooldown = StringField(
        "Cooldown", description="Least time between two firings, like 15m.", render_kw={"autocomplete": "off"}
    )
    expires = StringField(
        "Expires",
        description="ISO 8601 with a time zone (2030-01-01T00:00:00Z) or epoch ms; empty: never.",
        render_kw={"autocomplete": "off"},
    )
    channels = SelectMultipleField(
        "Notify", coerce=int, widget=ListWidget(prefix_label=False), option_widget=CheckboxInput()
    )
    note = TextAreaField("Note", validators=[Length(max=2000)], description="Sent with the alert.")

    def fields_for_rule(self):
        """The form as ``alerts.rules.add`` takes it (the API's JSON fields)."""
        names = ("pair", "kind", "op", "value", "window", "timeframe", "fast", "slow", "repeat")
        fields = {name: (getattr(self, name).data or "").strip() for name in names}
        fields.update(
            exchange=self.exchange.data or None,
            hysteresis_pct=(self.hysteresis_pct.data or "").strip(),
            cooldown=(self.cooldown.data or "").strip(),
            expires=(self.expires.data or "").strip(),
            channels=list(self.channels.data or []),
            note=(self.note.data or "").strip() or None,
        )
        return fields


def _user_id():
    return current_user.id


def _collected():
    """(pairs, exchanges) that rules can watch: what is stored, less the aggregate (CoinGecko)."""
    from ..alerts.rules import AGGREGATE
    from ..storage.markets import stored_markets

    stored = stored_markets(db.session())
    stored = stored[stored["exchange"] != AGGREGATE]
    return sorted(set(stored["pair"])), sorted(set(stored["exchange"]))


def _rule_form(channels, exchanges, formdata=True):
    """The add-rule form with its choices: the collected exchanges, the kinds and their ops, the
    user's channels."""
    from ..alerts.rules import KINDS

    form = RuleForm() if formdata else RuleForm(formdata=None)
    form.exchange.choices = [SelectChoice("", MEDIAN), *(SelectChoice(e) for e in exchanges)]
    form.kind.choices = [SelectChoice(k) for k in KINDS]
    ops = dict.fromkeys(op for kind_ops in KINDS.values() for op in kind_ops)
    form.op.choices = [
        SelectChoice(op, f"{op.replace('_', ' ')} ({', '.join(k for k, o in KINDS.items() if op in o)})")
        for op in ops
    ]
    form.channels.choices = [SelectChoice(str(c.id), c.name) for c in channels]
    return form


def duration_text(ms):
    """Milliseconds as the largest unit that divides them (``90m``, ``24h``, ``7d``), ``–`` for none."""
    if not ms:
        return "–"
    for unit, length in sorted(DURATION_UNITS.items(), key=lambda item: -item[1]):
        if ms % length == 0:
            return f"{ms // length}{unit}"
    return f"{ms / 60_000:g}m"


def watches(rule):
    """What a rule looks over: its window, or a signal's timeframe and EMA spans."""
    if rule.kind == "signal":
        return f"{rule.timeframe} candles, EMA {rule.fast}/{rule.slow}"
    return duration_text(rule.window_ms)


def _page(status=200, form=None, error=None):
    from ..analysis.alerts import STATES
    from ..storage import alerts, channels

    session = db.session()
    user_id = _user_id()
    mine = channels.user_channels(session, user_id)
    pairs, exchanges = _collected()
    return (
        render_template(
            "alerts.html",
            rules=alerts.user_rules(session, user_id),
            events=alerts.user_events(session, user_id, EVENTS_SHOWN),
            channel_names={c.id: c.name for c in mine},
            states=STATES,
            pairs=pairs,
            form=form if form is not None else _rule_form(mine, exchanges, formdata=False),
            error=error,
            action_form=ActionForm(),
            median=MEDIAN,
            watches=watches,
            duration_text=duration_text,
        ),
        status,
    )


def _own(rule_id):
    """One of the user's rules, after the button's CSRF token; 404 for anyone else's."""
    from ..storage import alerts

    if not ActionForm().validate_on_submit():
        abort(400, description="The rule's form expired: reload the page and try again.")
    rule = alerts.user_rule(db.session(), _user_id(), rule_id)
    if rule is None:
        abort(404, description="No such alert rule.")
    return rule


@bp.get("/alerts")
@login_required
def rules():
    """The user's alert rules, the form to add one, and the newest events with their deliveries."""
    return _page()


@bp.post("/alerts")
@login_required
def add_rule():
    """Add a rule (the same checks as POST /api/v1/alerts); a wrong field re-shows the form (422)."""
    from ..alerts.rules import RuleError, add
    from ..storage import channels

    session = db.session()
    form = _rule_form(channels.user_channels(session, _user_id()), _collected()[1])
    if not form.validate_on_submit():
        return _page(422, form=form, error="Check the fields marked below.")
    try:
        rule = add(session, _user_id(), form.fields_for_rule(), now_ms())
    except RuleError as error:
        name, _, message = str(error).partition(": ")
        if name in form and message:
            form[name].errors = [message]
        return _page(422, form=form, error=str(error))
    session.commit()
    flash(f"Rule {rule.id} added: {rule.pair} {rule.kind} {rule.op.replace('_', ' ')}.")
    return redirect(url_for("alerts.rules"))


def _set_paused(rule_id, paused):
    from ..storage import alerts

    alerts.set_paused(_own(rule_id), paused, now_ms())
    db.session.commit()
    flash(f"Rule {rule_id} {'paused' if paused else 'resumed'}.")
    return redirect(url_for("alerts.rules"))


@bp.post("/alerts/<int:rule_id>/pause")
@login_required
def pause_rule(rule_id):
    """Pause a rule: it sees nothing until resumed."""
    return _set_paused(rule_id, True)


@bp.post("/alerts/<int:rule_id>/resume")
@login_required
def resume_rule(rule_id):
    """Resume a paused rule from now on (ticks in between are skipped, not caught up)."""
    return _set_paused(rule_id, False)


@bp.post("/alerts/<int:rule_id>/delete")
@login_required
def delete_rule(rule_id):
    """Delete a rule and its events."""
    db.session.delete(_own(rule_id))
    db.session.commit()
    flash(f"Rule {rule_id} deleted.")
    return redirect(url_for("alerts.rules"))
