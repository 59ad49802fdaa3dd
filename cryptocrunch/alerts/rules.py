"""Alert rules: what a user may ask for (checked, with the field named), and their evaluation right
after each write of ticks, in the writer's transaction, for every rule on the markets written at
once (``analysis.alerts`` steps them all). A rule's state and the newest observation it saw are
stored with the ticks, so a restart, or an evaluator that was down for several cycles, fires
exactly what one pass at a time would have.

Observations: ``price`` rules see every tick newer than the last one they saw (the cross-exchange
median of the pair's latest prices at each tick time when ``exchange`` is omitted); ``change``,
``move`` and ``volatility`` rules see the window statistic at the newest tick (the project's own
definitions, from the rollups).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..analysis import alerts as conditions
from ..analysis.stats import finish
from ..clock import HOUR, now_ms, utc_text
from ..models import AlertRule, Exchange, Market
from ..storage import alerts, ticks

#: kind → the ops it takes (the first is the default)
KINDS: dict[str, tuple[str, ...]] = {
    "price": ("above", "below", "crosses_up", "crosses_down"),
    "change": ("either", "up", "down"),
    "move": ("either", "up", "down"),
    "volatility": ("above",),
}
WINDOWED = frozenset({"change", "move", "volatility"})
AGGREGATE = "coingecko"  # an aggregate, not an exchange: never part of a median


class RuleError(ValueError):
    """A rule field is wrong; the message starts with the field's name."""


@dataclass(frozen=True, slots=True)
class NewRule:
    """A checked rule, ready to store."""

    pair: str
    exchange: str | None
    kind: str
    op: str
    value: float
    window_ms: int | None
    repeat: str
    hysteresis_pct: float
    cooldown_ms: int
    expires: int | None
    note: str | None
    channels: tuple[int, ...]


def check(
    fields: Mapping[str, Any], known_markets: set[tuple[str, str]], own_channels: set[int], now: int
) -> NewRule:
    """Check a rule's fields (window and cooldown already in ms, expires in epoch ms) against the
    collected markets and the user's channels; RuleError names the first bad field."""
    pair = str(fields["pair"]).replace("-", "/").upper()
    exchange = fields.get("exchange")
    if exchange is None:
        if not any(p == pair and e != AGGREGATE for e, p in known_markets):
            raise RuleError(f"pair: no exchange has {pair} collected")
    elif (exchange, pair) not in known_markets:
        raise RuleError(f"exchange: {pair} is not collected on {exchange}")
    kind = fields["kind"]
    if kind not in KINDS:
        raise RuleError(f"kind: one of {', '.join(KINDS)} (spread and signal rules come later), got {kind!r}")
    op = fields.get("op") or KINDS[kind][0]
    if op not in KINDS[kind]:
        raise RuleError(f"op: a {kind} rule takes {', '.join(KINDS[kind])}, got {op!r}")
    value = float(fields["value"])
    if value < 0 or not np.isfinite(value):
        raise RuleError(f"value: must be a non-negative number, got {fields['value']!r}")
    window = fields.get("window_ms")
    if kind in WINDOWED and window is None:
        raise RuleError(f"window: a {kind} rule needs one, like 1h or 24h")
    if kind not in WINDOWED and window is not None:
        raise RuleError(f"window: a {kind} rule takes none")
    expires = fields.get("expires")
    if expires is not None and expires <= now:
        raise RuleError("expires: must be in the future")
    channels = tuple(dict.fromkeys(int(c) for c in fields.get("channels") or ()))
    foreign = [c for c in channels if c not in own_channels]
    if foreign:
        raise RuleError(f"channels: no channel {foreign[0]} of yours")
    hysteresis = float(fields.get("hysteresis_pct") or 0.0)
    if hysteresis < 0:
        raise RuleError("hysteresis_pct: must not be negative")
    return NewRule(
        pair=pair,
        exchange=exchange,
        kind=kind,
        op=op,
        value=value,
        window_ms=window,
        repeat=fields.get("repeat") or "rearm",
        hysteresis_pct=hysteresis,
        cooldown_ms=int(fields.get("cooldown_ms") or 0),
        expires=expires,
        note=fields.get("note"),
        channels=channels,
    )


def store(session: Session, user_id: int, rule: NewRule, now: int) -> AlertRule:
    """Store a checked rule; it starts looking at the ticks after ``now``."""
    row = AlertRule(
        user_id=user_id,
        pair=rule.pair,
        exchange=rule.exchange,
        kind=rule.kind,
        op=rule.op,
        value=rule.value,
        window_ms=rule.window_ms,
        repeat=rule.repeat,
        hysteresis_pct=rule.hysteresis_pct,
        cooldown_ms=rule.cooldown_ms,
        expires=rule.expires,
        note=rule.note,
        paused=False,
        state=conditions.initial_state(rule.op.startswith("crosses")),
        last_fired=None,
        seen=now,
        created=now,
    )
    return alerts.add_rule(session, row, rule.channels)


# -- evaluation ----------------------------------------------------------------------------------


def _arrays(rules: Sequence[AlertRule]) -> conditions.Rules:
    arrays = conditions.Rules.empty(len(rules))
    for i, rule in enumerate(rules):
        op = rule.op
        up = op in ("above", "crosses_up", "up")
        arrays.direction[i] = (
            conditions.EITHER if op == "either" else (conditions.UP if up else conditions.DOWN)
        )
        arrays.inclusive[i] = rule.kind != "price"
        arrays.crossing[i] = op.startswith("crosses")
        arrays.level[i] = -rule.value if op == "down" else rule.value
        arrays.hysteresis_pct[i] = rule.hysteresis_pct
        arrays.once[i] = rule.repeat == "once"
        arrays.cooldown_ms[i] = rule.cooldown_ms
        arrays.expires[i] = rule.expires if rule.expires is not None else conditions.NO_EXPIRY
        arrays.state[i] = rule.state
        arrays.last_fired[i] = rule.last_fired if rule.last_fired is not None else conditions.NEVER
    return arrays


def _observations(
    session: Session, rules: Sequence[AlertRule], ids: Mapping[tuple[str, str], int]
) -> list[list[tuple[int, float]]]:
    """Each rule's new observations (ts, value), oldest first."""
    found: list[list[tuple[int, float]]] = [[] for _ in rules]
    pairs = {rule.pair for rule in rules}
    markets_of = {pair: [m for (e, p), m in ids.items() if p == pair and e != AGGREGATE] for pair in pairs}
    since = min(rule.seen for rule in rules)
    needed = sorted(
        {
            m
            for rule in rules
            for m in ([ids[rule.exchange, rule.pair]] if rule.exchange else markets_of[rule.pair])
        }
    )
    # from an hour before the oldest unseen tick: the median needs each market's price as of then
    prices = ticks.read_prices(session, dict.fromkeys(needed, (since - HOUR, 2**62)))
    by_market = {int(m): prices[prices["market_id"] == m] for m in prices["market_id"].unique().tolist()}
    for i, rule in enumerate(rules):
        markets = [ids[rule.exchange, rule.pair]] if rule.exchange else markets_of[rule.pair]
        frames = [by_market[m] for m in markets if m in by_market]
        if not frames:
            continue
        if rule.kind == "price":
            if rule.exchange:
                series = frames[0]
                found[i] = [
                    (int(t), float(v))
                    for t, v in zip(series["ts"], series["price"], strict=True)
                    if t > rule.seen
                ]
            else:  # the median of every market's latest price at each tick time
                wide = (
                    pd.concat(frames)
                    .pivot_table(index="ts", columns="market_id", values="price")
                    .sort_index()
                    .ffill()
                )
                median = wide.median(axis=1)
                stamps, mids = median.index.to_numpy(dtype="int64"), median.to_numpy(dtype="float64")
                found[i] = [(int(t), float(v)) for t, v in zip(stamps, mids, strict=True) if t > rule.seen]
            continue
        newest = max(int(f["ts"].iloc[-1]) for f in frames)
        if newest <= rule.seen or rule.window_ms is None:
            continue
        summaries = ticks.window_summaries(session, markets, newest - rule.window_ms, newest + 1)
        values = []
        for summary in summaries.to_dict("records"):
            try:
                stats = finish(summary)
            except ValueError:
                continue  # too few ticks in the window
            values.append(
                {
                    "change": stats.pct_change,
                    "move": stats.largest_pct_move.value,
                    "volatility": stats.volatility,
                }[rule.kind]
            )
        if values:
            found[i] = [(newest, float(np.median(values)))]
    return found


def _message(rule: AlertRule, ts: int, value: float, exchanges: int) -> tuple[str, str]:
    where = rule.exchange or f"the median of {exchanges} exchanges"
    what = {
        "price": f"price {value:,.8g} is {rule.op.replace('_', ' ')} {rule.value:,.8g}",
        "change": f"changed {value:+.4g}% over the window ({rule.op} {rule.value:g}%)",
        "move": f"largest consecutive move {value:+.4g}% in the window ({rule.op} {rule.value:g}%)",
        "volatility": f"volatility {value:.4g} over the window (at least {rule.value:g})",
    }[rule.kind]
    title = f"cryptocrunch alert: {rule.pair} {rule.kind} {rule.op}"
    note = f"\n{rule.note}" if rule.note else ""
    return title, f"{rule.pair} on {where}: {what} at {utc_text(ts)} UTC.{note}"


def evaluate(session: Session, market_ids: Sequence[int], max_per_hour: int) -> int:
    """Evaluate every live rule on the pairs of ``market_ids`` (just written), record an event with
    its deliveries for each firing (at most ``max_per_hour`` notifications per user an hour, then
    one summary), store the rules' state; return how many fired. The caller commits."""
    names = session.execute(
        select(Market.id, Exchange.name, Market.pair)
        .join(Market.exchange)
        .where(Market.id.in_(list(market_ids)))
    ).all()
    touched = {(e, p) for _, e, p in names}
    pairs = {p for _, p in touched}
    rules = [
        r
        for r in alerts.live_rules(session, pairs)
        if (r.exchange is None and r.pair in pairs) or (r.exchange, r.pair) in touched
    ]
    if not rules:
        return 0
    ids = {
        (e, p): m
        for m, e, p in session.execute(
            select(Market.id, Exchange.name, Market.pair)
            .join(Market.exchange)
            .where(Market.pair.in_(sorted(pairs)))
        )
    }
    observed = _observations(session, rules, ids)
    width = max((len(o) for o in observed), default=0)
    if width == 0:
        return 0
    ts = np.zeros((len(rules), width), dtype=np.int64)
    values = np.full((len(rules), width), np.nan)
    for i, points in enumerate(observed):
        for j, (t, v) in enumerate(points):
            ts[i, j], values[i, j] = t, v
    arrays = _arrays(rules)
    firings = conditions.evaluate(arrays, ts, values)
    for i, rule in enumerate(rules):
        rule.state = int(arrays.state[i])
        rule.last_fired = None if arrays.last_fired[i] == conditions.NEVER else int(arrays.last_fired[i])
        if observed[i]:
            rule.seen = observed[i][-1][0]
    if firings:
        _record(session, rules, firings, ids, max_per_hour)
    session.flush()
    return len(firings)


def _record(
    session: Session,
    rules: Sequence[AlertRule],
    firings: Sequence[conditions.Firing],
    ids: Mapping[tuple[str, str], int],
    max_per_hour: int,
) -> None:
    now = now_ms()
    channels = alerts.rule_channels(session, [rules[f.rule].id for f in firings])
    budget: dict[int, int] = {}
    held: dict[int, int] = {}
    for firing in firings:
        rule = rules[firing.rule]
        if rule.user_id not in budget:
            budget[rule.user_id] = max_per_hour - alerts.sent_since(session, rule.user_id, now - HOUR)
        exchanges = sum(1 for e, p in ids if p == rule.pair and e != AGGREGATE)
        title, message = _message(rule, firing.ts, firing.value, exchanges)
        notify = channels.get(rule.id, []) if budget[rule.user_id] > 0 else []
        if budget[rule.user_id] <= 0:
            held[rule.user_id] = held.get(rule.user_id, 0) + 1
        budget[rule.user_id] -= 1
        alerts.add_event(
            session,
            rule.user_id,
            "rule",
            firing.ts,
            title,
            message,
            notify,
            now,
            rule_id=rule.id,
            observed=firing.value,
        )
    for user_id, count in held.items():
        if budget[user_id] + count == 0:  # the first time this hour the budget ran out: say so once
            targets = sorted({c for r in rules if r.user_id == user_id for c in channels.get(r.id, [])})
            alerts.add_event(
                session,
                user_id,
                "summary",
                now,
                "cryptocrunch: alerts held back",
                f"{count} more alert{'s' if count != 1 else ''} fired within the hour past "
                f"ALERTS_MAX_PER_HOUR ({max_per_hour}); they are in your alert history, not sent.",
                targets,
                now,
            )
