"""Time as the project counts it: UTC epoch milliseconds, the lengths of its units, and the candle
timeframes. A leaf: it imports nothing of the project, so every layer may use it."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

MINUTE = 60_000
FIVE_MINUTES = 5 * MINUTE
FIFTEEN_MINUTES = 15 * MINUTE
HOUR = 3_600_000
SIX_HOURS = 6 * HOUR
DAY = 86_400_000
WEEK = 7 * DAY

#: Duration units of settings and options like ``7d``.
DURATION_UNITS: dict[str, int] = {"m": MINUTE, "h": HOUR, "d": DAY, "w": WEEK}

#: The standard windows ending now and their length (None: all of history).
WINDOWS: dict[str, int | None] = {"1h": HOUR, "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "all": None}

#: The end of a window that is open at the end (later than any tick).
OPEN_END = 2**62

#: Candle timeframes and their length in ms.
TIMEFRAMES: dict[str, int] = {"1m": MINUTE, "5m": 5 * MINUTE, "1h": HOUR, "1d": DAY}


def now_ms() -> int:
    """Current UTC time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def parse_duration(text: str) -> int:
    """``90m``, ``24h``, ``7d`` or ``2w`` as milliseconds (more than zero); ValueError otherwise."""
    match = re.fullmatch(r"(\d+)([mhdw])", text.strip()) if isinstance(text, str) else None
    if not match or int(match[1]) == 0:
        raise ValueError(f"a duration looks like 90m, 24h, 7d or 2w, got {text!r}")
    return int(match[1]) * DURATION_UNITS[match[2]]


def parse_time(name: str, value: str) -> int:
    """Epoch ms, or ISO 8601 with a time zone, as epoch ms; ValueError naming ``name`` otherwise."""
    if re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{name} must be ISO 8601 (2024-01-01T00:00:00Z) or epoch ms, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"{name} needs a time zone (e.g. a trailing Z for UTC), got {value!r}")
    return int(parsed.timestamp() * 1000)


def utc_text(ms: int | None) -> str:
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM:SS`` (UTC), ``-`` for None."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def utc_iso(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with milliseconds, ``2024-01-01T00:00:00.000Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
