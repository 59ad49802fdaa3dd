"""Alert rules: what a user may ask for (checked, with the field named), and their evaluation right
after each write of ticks, in the writer's transaction, for every rule on the markets written at
once (``analysis.alerts`` steps them all). A rule's state and the newest observation it saw are
stored with the ticks, so a restart, or an evaluator that was down for several cycles, fires
exactly what one pass at a time would have.

Rules that watch the same thing (kind, market or median, window, timeframe) share one series of
observations, read and computed once per write:

* ``price``: every tick newer than the oldest of those rules has seen (``exchange`` omitted: the
  median of the pair's markets' latest prices at each tick time);
* ``change``, ``move``, ``volatility``: the window statistic over the window ending at the newest
  tick written (the project's own definitions, from the rollups), at that tick;
* ``spread``: every book top's spread in basis points (the median as for prices);
* ``signal``: each candle of ``timeframe`` that closed since, +1 at a golden cross of EMA(fast)
  over EMA(slow), -1 at a death cross, 0 otherwise (EMAs over the last ``SIGNAL_CANDLES``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.orm import Session

from ..analysis import alerts as conditions
from ..analysis import signals
from ..analysis.stats import figures
from ..clock import HOUR, TIMEFRAMES, now_ms, parse_duration, parse_time, utc_text
from ..models import AlertRule
from ..storage import alerts, books, candles, channels, markets, runs, ticks

#: kind → the ops it takes (the first is the default)
KINDS: dict[str, tuple[str, ...]] = {
    "price": ("above", "below", "crosses_up", "crosses_down"),
    "change": ("either", "up", "down"),
    "move": ("either", "up", "down"),
    "volatility": ("above",),
    "spread": ("above",),
    "signal": ("golden", "death"),
}
WINDOWED = frozenset({"change", "move", "volatility"})
UPWARDS = ("above", "crosses_up", "up", "golden")
AGGREGATE = "coingecko"  # an aggregate, not an exchange: never part of a median
#: Closed candles a signal rule's EMAs run over: at least this many, and five times the slow span.
SIGNAL_CANDLES = 100
#: The window statistics rules can watch, by kind (``stats.figures`` columns).
FIGURES = {"change": "pct_change", "move": "largest_pct_move", "volatility": "volatility"}


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
    timeframe: str | None
    fast: int | None
    slow: int | None
    repeat: str
    hysteresis_pct: float
    cooldown_ms: int
    expires: int | None
    note: str | None
    channels: tuple[int, ...]


def _duration(fields: Mapping[str, Any], name: str) -> int | None:
    text = fields.get(name)
    if text in (None, ""):
        return None
    try:
        return parse_duration(text)
    except ValueError as error:
        raise RuleError(f"{name}: {error}") from None


def _number(fields: Mapping[str, Any], name: str, default: float | None = None) -> float | None:
    raw = fields.get(name)
    if raw in (None, ""):
        return default
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise RuleError(f"{name}: must be a number, got {raw!r}") from None
    if number < 0 or not np.isfinite(number):
        raise RuleError(f"{name}: must be a non-negative number, got {raw!r}")
    return number


def _span(fields: Mapping[str, Any], name: str, default: int) -> int:
    raw = fields.get(name)
    if raw in (None, ""):
        return default
    if isinstance(raw, bool) or not (isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit())):
        raise RuleError(f"{name}: must be a whole number of candles, got {raw!r}")
    if not 1 <= int(raw) <= 500:
        raise RuleError(f"{name}: must be between 1 and 500 candles, got {raw!r}")
    return int(raw)


def check(session: Session, user_id: int, fields: Mapping[str, Any], now: int) -> NewRule:
    """Check a rule as a user gives it (the API's JSON fields: ``window`` and ``cooldown`` like
    15m, ``expires`` ISO 8601 or epoch ms) against the collected markets and the user's
    channels; RuleError names the first bad field."""
    pair = str(fields.get("pair") or "").replace("-", "/").upper()
    if not pair:
        raise RuleError("pair: required, like BTC/USDT")
    exchange = fields.get("exchange") or None
    stored = markets.stored_markets(session, pairs=[pair])
    ids = {e: int(m) for m, e, _ in stored.itertuples(index=False) if e != AGGREGATE}
    if exchange is None and not ids:
        raise RuleError(f"pair: no exchange has {pair} collected")
    if exchange is not None and exchange not in ids:
        raise RuleError(f"exchange: {pair} is not collected on {exchange}")
    kind = fields.get("kind")
    if kind not in KINDS:
        raise RuleError(f"kind: one of {', '.join(KINDS)}, got {kind!r}")
    op = fields.get("op") or KINDS[kind][0]
    if op not in KINDS[kind]:
        raise RuleError(f"op: a {kind} rule takes {', '.join(KINDS[kind])}, got {op!r}")
    value = _number(fields, "value")
    if kind == "signal":
        if value:
            raise RuleError("value: a signal rule takes none (it fires on the cross)")
        value = 0.0
    elif value is None:
        raise RuleError(f"value: a {kind} rule needs one")
    window = _duration(fields, "window")
    if kind in WINDOWED and window is None:
        raise RuleError(f"window: a {kind} rule needs one, like 1h or 24h")
    if kind not in WINDOWED and window is not None:
        raise RuleError(f"window: a {kind} rule takes none")
    timeframe, fast, slow = fields.get("timeframe") or None, None, None
    if kind == "signal":
        if exchange is None:
            raise RuleError("exchange: a signal rule needs one (candles are one market's)")
        if timeframe not in TIMEFRAMES:
            raise RuleError(
                f"timeframe: a signal rule needs one of {', '.join(TIMEFRAMES)}, got {timeframe!r}"
            )
        fast, slow = _span(fields, "fast", 12), _span(fields, "slow", 26)
        if fast >= slow:
            raise RuleError(f"fast: must be shorter than slow ({fast} >= {slow})")
    elif (
        timeframe is not None or fields.get("fast") not in (None, "") or fields.get("slow") not in (None, "")
    ):
        raise RuleError(f"timeframe: a {kind} rule takes no timeframe, fast or slow")
    if kind == "spread":
        watched = [ids[exchange]] if exchange else list(ids.values())
        if not any(books.has_book_tops(session, m) for m in watched):
            raise RuleError(
                f"kind: spread rules need order books; none are stored for {pair} "
                "(flask collect --books, COLLECT_BOOKS)"
            )
    raw_expires = fields.get("expires")
    expires = None
    if raw_expires not in (None, ""):
        try:
            expires = parse_time("expires", str(raw_expires))
        except ValueError as error:
            raise RuleError(f"expires: {error}") from None
        if expires <= now:
            raise RuleError("expires: must be in the future")
    repeat = fields.get("repeat") or "rearm"
    if repeat not in ("once", "rearm"):
        raise RuleError(f"repeat: once or rearm, got {repeat!r}")
    try:
        wanted = tuple(dict.fromkeys(int(c) for c in fields.get("channels") or ()))
    except (TypeError, ValueError):
        raise RuleError(f"channels: a list of channel ids, got {fields.get('channels')!r}") from None
    own = {c.id for c in channels.user_channels(session, user_id)}
    foreign = [c for c in wanted if c not in own]
    if foreign:
        raise RuleError(f"channels: no channel {foreign[0]} of yours")
    note = fields.get("note") or None
    if note is not None and len(str(note)) > 2000:
        raise RuleError("note: at most 2000 characters")
    return NewRule(
        pair=pair,
        exchange=exchange,
        kind=kind,
        op=op,
        value=value,
        window_ms=window,
        timeframe=timeframe,
        fast=fast,
        slow=slow,
        repeat=repeat,
        hysteresis_pct=_number(fields, "hysteresis_pct", 0.0) or 0.0,
        cooldown_ms=_duration(fields, "cooldown") or 0,
        expires=expires,
        note=None if note is None else str(note),
        channels=wanted,
    )


def add(session: Session, user_id: int, fields: Mapping[str, Any], now: int) -> AlertRule:
    """Check a rule (``check``) and store it; it starts looking at the ticks after ``now``. The
    caller commits."""
    rule = check(session, user_id, fields, now)
    row = AlertRule(
        user_id=user_id,
        pair=rule.pair,
        exchange=rule.exchange,
        kind=rule.kind,
        op=rule.op,
        value=rule.value,
        window_ms=rule.window_ms,
        timeframe=rule.timeframe,
        fast=rule.fast,
        slow=rule.slow,
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

#: what makes two rules watch the same series
SERIES_KEYS = ["kind", "exchange", "pair", "window_ms", "timeframe", "fast", "slow"]

Series = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]
NOTHING: Series = (np.zeros(0, dtype=np.int64), np.zeros(0))


def _arrays(rules: pd.DataFrame) -> conditions.Rules:
    """The rules' definitions as ``analysis.alerts`` arrays (state armed, never fired: the
    evaluation puts in the stored ones)."""
    op = rules["op"].to_numpy()
    kind = rules["kind"].to_numpy()
    value = rules["value"].to_numpy(dtype="float64")
    direction = np.where(op == "either", conditions.EITHER, np.where(np.isin(op, UPWARDS), conditions.UP, -1))
    level = np.where(op == "down", -value, value)
    # a signal observation is +1 at a golden cross, -1 at a death cross
    level = np.where(op == "golden", 1.0, np.where(op == "death", -1.0, level))
    return conditions.Rules(
        direction=direction.astype(np.int8),
        inclusive=kind != "price",
        crossing=np.isin(op, ["crosses_up", "crosses_down"]),
        level=level,
        hysteresis_pct=np.where(kind == "signal", 0.0, rules["hysteresis_pct"].to_numpy(dtype="float64")),
        once=rules["repeat"].to_numpy() == "once",
        cooldown_ms=rules["cooldown_ms"].to_numpy(dtype="int64"),
        expires=rules["expires"].fillna(conditions.NO_EXPIRY).to_numpy(dtype="int64"),
        state=np.full(len(rules), conditions.ARMED, dtype=np.int8),
        last_fired=np.full(len(rules), conditions.NEVER, dtype=np.int64),
    )


def _split(frame: pd.DataFrame, columns: list[str]) -> dict[int, tuple[npt.NDArray[Any], ...]]:
    """A frame sorted by market_id as {market: (column arrays)}."""
    ids = frame["market_id"].to_numpy()
    cuts = np.flatnonzero(np.diff(ids)) + 1
    bounds = zip(np.r_[0, cuts], np.r_[cuts, len(ids)], strict=True)
    data = [frame[c].to_numpy() for c in columns]
    return {int(ids[lo]): tuple(d[lo:hi] for d in data) for lo, hi in bounds}


def _median_at_each_time(series: list[Series], since: int) -> Series:
    """At each time one of ``series`` has a point after ``since``: the median of every series' latest
    value as of then."""
    present = [s for s in series if len(s[0])]
    if not present:
        return NOTHING
    times = np.unique(np.concatenate([t[t > since] for t, _ in present]))
    if not len(times):
        return NOTHING
    latest = np.full((len(present), len(times)), np.nan)
    for row, (t, v) in enumerate(present):
        at = np.searchsorted(t, times, side="right") - 1
        latest[row] = np.where(at >= 0, v[np.maximum(at, 0)], np.nan)
    # the median of each column's values (NaN sorts last), as np.nanmedian without its overhead
    ordered = np.sort(latest, axis=0)
    count = (~np.isnan(latest)).sum(axis=0)
    columns = np.arange(len(times))
    low, high = np.maximum(count - 1, 0) // 2, count // 2
    median = (ordered[low, columns] + ordered[np.minimum(high, len(present) - 1), columns]) / 2
    keep = count > 0
    return times[keep], median[keep]


class _Reads:
    """The batch reads of one evaluation, each done once for every series that needs it."""

    def __init__(self, session: Session, written: dict[int, int]) -> None:
        self.session = session
        self.written = written
        self.end = max(written.values()) + 1

    def points(self, kind: str, since: dict[int, int], before: list[int], at: int) -> dict[int, Series]:
        """Each market's (ts, price) ticks or (ts, spread in bps) book tops at or after its since;
        for the markets ``before``, first their newest tick at or before ``at``."""
        ranges = {m: (s, 2**62) for m, s in since.items()}
        if kind == "price":
            frame = ticks.read_prices(self.session, ranges)
            if before:
                earlier = ticks.latest_before(self.session, before, at)
                earlier = earlier[earlier["ts"] >= at - HOUR]  # a price older than an hour is stale
                frame = pd.concat([earlier, frame], ignore_index=True).sort_values(
                    ["market_id", "ts"], kind="stable"
                )
            return {m: (t, p) for m, (t, p) in _split(frame, ["ts", "price"]).items()}
        frame = books.read_tops(self.session, ranges)
        frame["bps"] = (frame["ask"] - frame["bid"]) / ((frame["ask"] + frame["bid"]) / 2) * 10_000
        return {m: (t, v) for m, (t, v) in _split(frame, ["ts", "bps"]).items()}

    def window_figures(self, window_ms: int, market_ids: list[int]) -> dict[int, dict[str, float]]:
        """Each market's window figures (``stats.figures``) over the window ending at the newest
        tick written."""
        # no tick is newer than the write: the current hour's rollup stands for the end edge
        to_hour = -(-self.end // HOUR) * HOUR
        summaries = ticks.window_summaries(self.session, market_ids, self.end - window_ms, to_hour)
        found = figures(summaries)
        columns = {c: found[c].to_numpy(dtype="float64") for c in found.columns}
        return {
            int(m): {c: float(v[i]) for c, v in columns.items()}
            for i, m in enumerate(summaries["market_id"].to_numpy())
        }

    def closes(self, timeframe: str, slow: int, market_ids: list[int]) -> dict[int, Series]:
        """Each market's closed candles of ``timeframe`` (open time, close): the last
        max(SIGNAL_CANDLES, 5 x slow) before the newest tick written."""
        step = TIMEFRAMES[timeframe]
        closed_end = self.end // step * step  # candles opening before it are closed
        history = max(SIGNAL_CANDLES, 5 * slow) * step
        frame = candles.merged(self.session, market_ids, timeframe, closed_end - history, closed_end)
        return {m: (t, c) for m, (t, c) in _split(frame, ["ts", "close"]).items()}


def _crosses(candles_: Series, step: int, fast: int, slow: int, since: int) -> Series:
    """(close time, +1 golden / -1 death / 0) of each candle in ``candles_`` (open time, close)
    that closed after ``since``."""
    opened, close = candles_
    close = close.astype("float64")
    quick, steady = signals.ema(close, fast), signals.ema(close, slow)
    cross = {
        c.ts: 1.0 if c.kind == "golden" else -1.0
        for c in signals.crossovers(opened.tolist(), close, quick, steady)
    }
    new = opened + step > since
    return opened[new] + step, np.array([cross.get(int(t), 0.0) for t in opened[new]])


@dataclass(frozen=True, slots=True)
class Watched:
    """One series rules watch (``SERIES_KEYS``)."""

    kind: str
    exchange: str | None
    pair: str
    window_ms: int | None
    timeframe: str | None
    fast: int | None
    slow: int | None

    @property
    def key(self) -> str:
        """The series' name in ``AlertWatch``."""
        return "|".join(
            "" if v is None else str(v)
            for v in (
                self.kind,
                self.exchange,
                self.pair,
                self.window_ms,
                self.timeframe,
                self.fast,
                self.slow,
            )
        )


def _observe(
    session: Session,
    watched: list[Watched],
    since: list[int],
    ids: dict[tuple[str, str], int],
    written: dict[int, int],
) -> list[Series]:
    """Every watched series' new observations (ts, value) after its ``since`` (the oldest one all
    its rules have seen), oldest first."""
    reads = _Reads(session, written)
    found: list[Series] = [NOTHING] * len(watched)
    by_pair: dict[str, list[int]] = {}
    for (exchange, pair), m in ids.items():
        if exchange != AGGREGATE:
            by_pair.setdefault(pair, []).append(m)

    def markets_of(w: Watched) -> list[int]:
        return [ids[w.exchange, w.pair]] if w.exchange else by_pair.get(w.pair, [])

    for kind in ("price", "spread"):
        wanted = [(i, w) for i, w in enumerate(watched) if w.kind == kind]
        medians = [(i, w) for i, w in wanted if not w.exchange]
        # a median needs each market's value as of its first new time: every market of a median
        # is read from the oldest median's since on, with its newest price at that time (a book
        # top within the hour before)
        oldest = min((since[i] for i, _ in medians), default=0)
        low: dict[int, int] = {}
        for _, w in medians:
            for m in markets_of(w):
                low[m] = oldest + 1 if kind == "price" else oldest - HOUR
        for i, w in wanted:
            if w.exchange:
                m = ids[w.exchange, w.pair]
                low[m] = min(low.get(m, since[i] + 1), since[i] + 1)
        if not low:
            continue
        before = sorted({m for _, w in medians for m in markets_of(w)}) if kind == "price" else []
        points = reads.points(kind, low, before, oldest)
        for i, w in wanted:
            if w.exchange:
                t, v = points.get(ids[w.exchange, w.pair], NOTHING)
                found[i] = (t[t > since[i]], v[t > since[i]])
            else:
                found[i] = _median_at_each_time([points.get(m, NOTHING) for m in markets_of(w)], since[i])

    windows = sorted({w.window_ms for w in watched if w.kind in WINDOWED and w.window_ms})
    for window_ms in windows:
        group = [(i, w) for i, w in enumerate(watched) if w.kind in WINDOWED and w.window_ms == window_ms]
        stats = reads.window_figures(window_ms, sorted({m for _, w in group for m in markets_of(w)}))
        for i, w in group:
            markets_ = markets_of(w)
            newest = max((written[m] for m in markets_ if m in written), default=None)
            values = [stats[m][FIGURES[w.kind]] for m in markets_ if m in stats]
            values = [v for v in values if not np.isnan(v)]
            if newest is not None and newest > since[i] and values:
                found[i] = (np.array([newest]), np.array([float(np.median(values))]))

    signal = [(i, w) for i, w in enumerate(watched) if w.kind == "signal" and w.exchange and w.timeframe]
    for timeframe in sorted({str(w.timeframe) for _, w in signal}):
        step = TIMEFRAMES[timeframe]
        # only when a candle closed since the rule last looked
        due = [(i, w) for i, w in signal if w.timeframe == timeframe and reads.end // step * step > since[i]]
        if not due:
            continue
        slowest = max(int(w.slow or 0) for _, w in due)
        closes = reads.closes(timeframe, slowest, sorted({ids[str(w.exchange), w.pair] for _, w in due}))
        for i, w in due:
            market = ids[str(w.exchange), w.pair]
            if market in written and market in closes:
                found[i] = _crosses(closes[market], step, int(w.fast or 0), int(w.slow or 0), since[i])
    return found


@dataclass(frozen=True, slots=True)
class _Compiled:
    """Every rule that may be live, as the evaluator keeps it while ``runs.RULES_VERSION`` stays
    the same: the definitions, the condition arrays, and the series each rule watches."""

    rules: pd.DataFrame
    ids: npt.NDArray[np.int64]
    pair: npt.NDArray[np.int64]  # index into pair_codes' pairs
    market: npt.NDArray[np.int64]  # index into market_codes' markets; -1 for a median
    pair_codes: dict[str, int]
    market_codes: dict[tuple[str, str], int]
    arrays: conditions.Rules
    code: npt.NDArray[np.int64]  # index into ``watched``
    watched: list[Watched]
    keys: list[str]  # each watched series' key


#: per database: (rules version, its compiled rules)
_COMPILED: dict[str, tuple[int, _Compiled]] = {}


def _compile(rules: pd.DataFrame) -> _Compiled:
    keyed = rules[SERIES_KEYS].astype(object).where(rules[SERIES_KEYS].notna(), None)
    code = np.asarray(keyed.groupby(SERIES_KEYS, dropna=False, sort=False).ngroup(), dtype=np.int64)
    watched = [
        Watched(
            kind=str(r["kind"]),
            exchange=r["exchange"],
            pair=str(r["pair"]),
            window_ms=None if r["window_ms"] is None else int(r["window_ms"]),
            timeframe=r["timeframe"],
            fast=None if r["fast"] is None else int(r["fast"]),
            slow=None if r["slow"] is None else int(r["slow"]),
        )
        for r in keyed.drop_duplicates(SERIES_KEYS).to_dict("records")
    ]
    pair_codes: dict[str, int] = {}
    market_codes: dict[tuple[str, str], int] = {}
    pair, market = [], []
    for e, p in zip(rules["exchange"], rules["pair"], strict=True):
        pair.append(pair_codes.setdefault(p, len(pair_codes)))
        market.append(-1 if e is None else market_codes.setdefault((e, p), len(market_codes)))
    return _Compiled(
        rules=rules,
        ids=rules["id"].to_numpy(dtype="int64"),
        pair=np.array(pair, dtype=np.int64),
        market=np.array(market, dtype=np.int64),
        pair_codes=pair_codes,
        market_codes=market_codes,
        arrays=_arrays(rules),
        code=code,
        watched=watched,
        keys=[w.key for w in watched],
    )


def _compiled(session: Session) -> _Compiled:
    version = runs.rules_version(session)
    key = str(session.connection().engine.url)
    kept = _COMPILED.get(key)
    if kept is None or kept[0] != version:
        kept = (version, _compile(alerts.rule_definitions(session)))
        _COMPILED[key] = kept
    return kept[1]


def evaluate(session: Session, spans: Mapping[int, tuple[int, int]], max_per_hour: int) -> int:
    """Evaluate every live rule on the pairs of the markets just written (``spans``: market id →
    (first, last) ts written), record an event with its deliveries for each firing (at most
    ``max_per_hour`` notifications per user an hour, then one summary), store the rules' state;
    return how many fired. The caller commits."""
    every = _compiled(session)
    if not len(every.ids):
        return 0
    written = {int(m): int(high) for m, (_, high) in spans.items()}
    on_written = set(markets.names(session, written).values())
    states = alerts.rule_states(session)
    at = np.minimum(np.searchsorted(states[:, 0], every.ids), max(len(states) - 1, 0))
    found = len(states) > 0
    state = states[at, 1] if found else np.full(len(every.ids), -1.0)
    # rules on a market written, and median rules on a pair written
    written_markets = [every.market_codes[k] for k in on_written if k in every.market_codes]
    written_pairs = [every.pair_codes[p] for _, p in on_written if p in every.pair_codes]
    flags = np.zeros(len(every.market_codes) + 1, dtype=bool)
    flags[written_markets] = True
    pair_flags = np.zeros(len(every.pair_codes), dtype=bool)
    pair_flags[written_pairs] = True
    watching = np.where(every.market < 0, pair_flags[every.pair], flags[every.market])
    may_fire = (state >= conditions.ARMED) & (state <= conditions.WAITING)
    live = np.flatnonzero(watching & (states[at, 0] == every.ids if found else False) & may_fire)
    if not len(live):
        return 0
    rows = at[live]
    series, code = np.unique(every.code[live], return_inverse=True)
    # a rule has seen up to the later of its own seen and its series'
    until = alerts.watched_until(session)
    series_seen = np.array([until.get(every.keys[s], 0) for s in series], dtype=np.int64)
    seen = np.maximum(states[rows, 3].astype("int64"), series_seen[code])
    arrays = conditions.Rules(
        **{f.name: getattr(every.arrays, f.name)[live] for f in dataclasses.fields(conditions.Rules)}
    )
    arrays.state = states[rows, 1].astype("int8")
    arrays.last_fired = np.where(np.isnan(states[rows, 2]), conditions.NEVER, states[rows, 2]).astype("int64")
    before_state, before_fired = arrays.state.copy(), arrays.last_fired.copy()
    since = np.full(len(series), np.iinfo(np.int64).max)
    np.minimum.at(since, code, seen)
    watched = [every.watched[s] for s in series]
    ids = {
        (e, p): int(m)
        for m, e, p in markets.stored_markets(session, pairs={w.pair for w in watched}).itertuples(
            index=False
        )
    }
    observed = _observe(session, watched, since.tolist(), ids, written)
    width = max(len(t) for t, _ in observed)
    if width == 0:
        return 0
    grid_ts = np.zeros((len(watched), width), dtype=np.int64)
    grid = np.full((len(watched), width), np.nan)
    for i, (t, v) in enumerate(observed):
        grid_ts[i, : len(t)], grid[i, : len(t)] = t, v
    ts, values = grid_ts[code], grid[code]
    values[ts <= seen[:, None]] = np.nan  # what each rule has already seen
    firings = conditions.evaluate(arrays, ts, values)

    newest = np.maximum(seen, np.where(np.isnan(values), 0, ts).max(axis=1))
    # the series' cursors move on; a rule's own row only when its state changed
    looked = np.full(len(series), np.iinfo(np.int64).min)
    np.maximum.at(looked, code, newest)
    alerts.save_watched(
        session,
        {every.keys[s]: int(t) for s, t, old in zip(series, looked, series_seen, strict=True) if t > old},
    )
    changed = (arrays.state != before_state) | (arrays.last_fired != before_fired)
    never = arrays.last_fired == conditions.NEVER
    alerts.save_states(
        session,
        [
            (int(s), None if n else int(f), int(t), int(i))
            for s, f, n, t, i in zip(
                arrays.state[changed],
                arrays.last_fired[changed],
                never[changed],
                newest[changed],
                every.ids[live][changed],
                strict=True,
            )
        ],
    )
    if firings:
        fired = every.rules.iloc[live[[f.rule for f in firings]]]
        _record(session, fired, firings, ids, max_per_hour)
    session.flush()
    return len(firings)


def _message(rule: Mapping[Any, Any], ts: int, value: float, exchanges: int) -> tuple[str, str]:
    pair, kind, op, level = rule["pair"], rule["kind"], str(rule["op"]), rule["value"]
    where = rule["exchange"] or f"the median of {exchanges} exchanges"
    what = {
        "price": f"price {value:,.8g} is {op.replace('_', ' ')} {level:,.8g}",
        "change": f"changed {value:+.4g}% over the window ({op} {level:g}%)",
        "move": f"largest consecutive move {value:+.4g}% in the window ({op} {level:g}%)",
        "volatility": f"volatility {value:.4g} over the window (at least {level:g})",
        "spread": f"book-top spread {value:.4g} bps (at least {level:g} bps)",
        "signal": f"EMA({rule['fast']}) crossed EMA({rule['slow']}) "
        f"{'upwards (golden cross)' if value > 0 else 'downwards (death cross)'} on the {rule['timeframe']} "
        "candle closing",
    }[kind]
    title = f"cryptocrunch alert: {pair} {kind} {op}"
    note = f"\n{rule['note']}" if rule["note"] else ""
    return title, f"{pair} on {where}: {what} at {utc_text(ts)} UTC.{note}"


def _record(
    session: Session,
    fired: pd.DataFrame,
    firings: list[conditions.Firing],
    ids: Mapping[tuple[str, str], int],
    max_per_hour: int,
) -> None:
    """One event per firing (``fired``: each one's rule), queued for the rule's channels while the
    user's hour has room (ALERTS_MAX_PER_HOUR); past it the event is kept as held, and one
    summary per stretch of held events, sent when the hour frees a place, says how many."""
    now = now_ms()
    channels_of = alerts.rule_channels(session, fired["id"].tolist())
    counts = alerts.notified_since(session, fired["user_id"].tolist(), now - HOUR)
    room = {u: max_per_hour - counts.get(u, (0, now))[0] for u in set(fired["user_id"].tolist())}
    held: dict[int, list[tuple[int, list[int]]]] = {}
    per_pair: dict[str, int] = {}
    for exchange, pair in ids:
        per_pair[pair] = per_pair.get(pair, 0) + (exchange != AGGREGATE)
    new = []
    for firing, rule in zip(firings, fired.to_dict("records"), strict=True):
        rule_id, user_id = int(rule["id"]), int(rule["user_id"])
        targets = channels_of.get(rule_id, [])
        exchanges = per_pair.get(rule["pair"], 0)
        title, message = _message(rule, firing.ts, firing.value, exchanges)
        hold = bool(targets) and room[user_id] <= 0
        if targets and not hold:
            room[user_id] -= 1
        if hold:
            held.setdefault(user_id, []).append((firing.ts, targets))
        new.append(
            alerts.NewEvent(
                user_id,
                "rule",
                firing.ts,
                title,
                message,
                () if hold else targets,
                rule_id=rule_id,
                observed=firing.value,
                held=hold,
            )
        )
    alerts.add_events(session, new, now)
    for user_id, kept in held.items():
        _summarise(session, user_id, kept, counts.get(user_id, (0, now))[1] + HOUR, max_per_hour, now)


def _summarise(
    session: Session, user_id: int, kept: list[tuple[int, list[int]]], frees: int, max_per_hour: int, now: int
) -> None:
    """Count held events into the user's waiting summary, or start one due when the hour frees a
    place (``frees``)."""
    targets = sorted({c for _, cs in kept for c in cs})
    summary = alerts.open_summary(session, user_id, now)
    count = len(kept) + (int(summary.observed or 0) if summary else 0)
    first = summary.ts if summary else min(t for t, _ in kept)
    message = (
        f"{count} more alert{'s' if count != 1 else ''} fired since {utc_text(first)} UTC past "
        f"ALERTS_MAX_PER_HOUR ({max_per_hour}); they were held back and are in your alert history."
    )
    if summary is None:
        new = alerts.NewEvent(
            user_id,
            "summary",
            first,
            "cryptocrunch: alerts held back",
            message,
            targets,
            observed=float(count),
        )
        alerts.add_events(session, [new], now, next_try=max(frees, now))
        return
    summary.observed, summary.message = float(count), message
    alerts.add_deliveries(session, summary.id, targets, max(frees, now))
