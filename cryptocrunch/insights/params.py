"""What a request can ask for, parsed and checked without the database: windows, ranking metrics,
timeframes, pairs, and the limits on points. Errors are ``BadRequest`` naming the parameter."""

from __future__ import annotations

from dataclasses import dataclass

from ..clock import DAY, TIMEFRAMES, now_ms, parse_duration, parse_time
from ..clock import OPEN_END as OPEN_END  # the windows' names and open end, for every caller here
from ..clock import WINDOWS as WINDOWS
from ..errors import BadRequest

METRICS = ("volatility", "pct_change", "largest_pct_move", "stdev")
MAX_POINTS = 10_000
DEFAULT_POINTS = 1_000

#: What the dashboard's markets table (insights.table) sorts by: the latest tick's columns and
#: the window's figures.
SORTS = (
    "pair",
    "exchange",
    "last",
    "bid",
    "ask",
    "ts",
    "base_volume",
    "quote_volume",
    "pct_change",
    "volatility",
)
TEXT_SORTS = ("pair", "exchange")
MAX_PER_PAGE = 200
#: Most markets one sparklines request may name, and most points per sparkline.
MAX_SPARKLINES = 200
MAX_SPARKLINE_POINTS = 500
MAX_RANGE_MS = 20 * 365 * DAY  # explicit ranges longer than 20 years are refused


@dataclass(frozen=True, slots=True)
class Window:
    """Ticks with start <= ts < end (epoch ms)."""

    start: int
    end: int
    name: str


def minute_now() -> int:
    """Now, floored to the minute: windows ending now move a minute at a time, so answers
    (and cached responses) are the same all through a minute while the data is."""
    return now_ms() // 60_000 * 60_000


def resolve_window(window: str | None, start: str | None, end: str | None, now: int | None = None) -> Window:
    """A named window ending now (default 24h), or an explicit start/end."""
    if start is None and end is None:
        name = window or "24h"
        if name not in WINDOWS:
            raise BadRequest(f"window must be one of {', '.join(WINDOWS)}, got {name!r}")
        length = WINDOWS[name]
        now = minute_now() if now is None else now
        # Relative windows are open at the end: a tick stamped slightly ahead of our clock still counts.
        return Window(0 if length is None else now - length, OPEN_END, name)
    if window is not None:
        raise BadRequest("give either window or start/end, not both")
    return _explicit_window(start, end, "start", "end")


def _explicit_window(start: str | None, end: str | None, start_name: str, end_name: str) -> Window:
    """start <= ts <= end (either side may be open), the errors naming the two parameters."""
    try:
        lo = parse_time(start_name, start) if start is not None else 0
        hi = parse_time(end_name, end) + 1 if end is not None else OPEN_END
    except ValueError as error:
        raise BadRequest(str(error)) from None
    if lo >= hi:
        raise BadRequest(f"{start_name} ({start}) must be before {end_name} ({end})")
    if start is not None and end is not None and hi - lo > MAX_RANGE_MS:
        raise BadRequest(f"{start_name}..{end_name} may span at most 20 years")
    return Window(lo, hi, "custom")


def lookback_window(lookback: str, now: int | None = None, name: str = "lookback") -> Window:
    """The window of the last ``lookback`` (``24h``, ``7d``, ``2w``, ``90m``), open at the end like
    the named windows; a malformed one is a BadRequest naming the parameter ``name``."""
    try:
        length = parse_duration(lookback)
    except ValueError as error:
        raise BadRequest(f"{name}: {error}") from None
    now = minute_now() if now is None else now
    return Window(now - length, OPEN_END, lookback)


def resolve_within(within: str | None, start: str | None, end: str | None, now: int | None = None) -> Window:
    """When the crossovers a signals scan lists happened: in the last ``within`` (any duration,
    default 24h), or from ``within_start`` to ``within_end`` (inclusive, either may be left open)."""
    if start is None and end is None:
        return lookback_window(within or "24h", now, "within")
    if within is not None:
        raise BadRequest("give either within or within_start/within_end, not both")
    return _explicit_window(start, end, "within_start", "within_end")


def split_pair(pair: str) -> str:
    """``BTC-USD`` (URL form) or ``BTC/USD`` to the unified ``BTC/USD``."""
    unified = pair.replace("-", "/").upper()
    if unified.count("/") != 1 or not all(unified.split("/")):
        raise BadRequest(f"pair must look like BTC-USD, got {pair!r}")
    return unified


def timeframe_ms(timeframe: str) -> int:
    """The length of a candle timeframe; BadRequest naming the ones there are."""
    if timeframe not in TIMEFRAMES:
        raise BadRequest(f"timeframe must be one of {', '.join(TIMEFRAMES)}, got {timeframe!r}")
    return TIMEFRAMES[timeframe]


def check_points(points: int) -> None:
    """BadRequest unless 2 <= ``points`` <= MAX_POINTS."""
    if not 2 <= points <= MAX_POINTS:
        raise BadRequest(f"points must be between 2 and {MAX_POINTS}, got {points}")
