"""What an export asks for: the kinds there are, the keys each takes, and the checks of one spec
(``flask export``'s options or an EXPORTS entry), of where it goes, and of the export settings.
Imports no database, pandas or boto3: the settings are checked at start-up."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..clock import TIMEFRAMES
from ..config import ConfigError
from ..insights.params import METRICS, resolve_window, split_pair

FORMATS = ("csv", "parquet")

CONTENT_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}

ORDERS = ("desc", "asc")

#: Whole-number keys and their ranges (those of the API's parameters).
INT_RANGES = {"limit": (1, 1000), "fast": (1, 500), "slow": (2, 1000)}

#: S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens, a letter or digit at each end.
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """One export: what, in which format, where to, and the API's filters (keys of a spec)."""

    what: str
    format: str = "csv"
    #: A folder, or ``s3://bucket/prefix``; None is the instance folder's ``exports/``.
    to: str | None = None
    exchange: str | None = None
    pair: str | None = None
    quote: str | None = None
    window: str | None = None
    start: str | None = None
    end: str | None = None
    timeframe: str = "1h"
    fast: int = 12
    slow: int = 26
    metric: str = "volatility"
    order: str = "desc"
    limit: int = 20


SPEC_KEYS = tuple(f.name for f in fields(ExportOptions))

#: Keys every export takes; each kind lists the others it takes.
COMMON = frozenset({"what", "format", "to", "window", "start", "end"})


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of export: which keys it takes besides COMMON, and its help. Its rows are built by
    ``frames.<name>_frame``."""

    options: frozenset[str]
    help: str


#: What ``flask export WHAT`` and EXPORTS can write. A new kind is one entry here and its
#: ``<name>_frame`` in ``frames``.
KINDS: dict[str, Kind] = {
    "ticks": Kind(frozenset({"exchange", "pair", "quote"}), "every stored tick of the matching markets"),
    "candles": Kind(
        frozenset({"exchange", "pair", "quote", "timeframe", "fast", "slow"}),
        "OHLCV candles with EMAs and crossovers of the matching markets (--timeframe, --fast, --slow)",
    ),
    "stats": Kind(frozenset({"exchange", "pair", "quote"}), "statistics per matching market"),
    "rankings": Kind(
        frozenset({"exchange", "quote", "metric", "order", "limit"}),
        "markets ranked by --metric (--order, --limit)",
    ),
    "similar": Kind(
        frozenset({"exchange"}), "listing overlap (shared pairs, Jaccard) of every two exchanges"
    ),
    "book": Kind(
        frozenset({"exchange", "pair", "quote"}),
        "every stored order-book top of the matching markets, with mid and spread",
    ),
}


def kind_of(what: Any) -> Kind:
    """The registered kind called ``what``; ValueError saying which exist otherwise."""
    if isinstance(what, str) and what in KINDS:
        return KINDS[what]
    available = ", ".join(KINDS)
    if what is None:
        raise ValueError(f"what to export is missing: one of {available}")
    raise ValueError(f"unknown export {what!r}; choose from {available}")


def _check_types(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's values with their types checked; start/end may be epoch ms as numbers."""
    checked = {}
    for key, value in spec.items():
        if value is None:
            continue
        if key in ("start", "end") and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if key in INT_RANGES:
            low, high = INT_RANGES[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{key} must be a whole number from {low} to {high}, got {value!r}")
        elif not isinstance(value, str) or not value.strip():
            raise ValueError(f"{key} must be a non-empty string, got {value!r}")
        checked[key] = value
    return checked


def _check_choice(key: str, value: str, choices: tuple[str, ...] | list[str]) -> None:
    if value not in choices:
        raise ValueError(f"{key} must be one of {', '.join(choices)}, got {value!r}")


def parse_spec(spec: Mapping[str, Any]) -> ExportOptions:
    """Check one export spec (the CLI's options, or an EXPORTS entry) and return it with defaults
    filled in and the pair unified; ValueError names the bad key."""
    unknown = sorted(str(key) for key in spec if key not in SPEC_KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}; known: {', '.join(SPEC_KEYS)}")
    what = spec.get("what")
    kind = kind_of(what)
    takes = COMMON | kind.options
    extra = [key for key in SPEC_KEYS if key in spec and key not in takes and spec[key] is not None]
    if extra:
        listed = ", ".join(key for key in SPEC_KEYS if key in takes - {"what"})
        raise ValueError(f"{extra[0]} does not apply to {what} exports (they take {listed})")
    options = ExportOptions(**_check_types(spec))
    _check_choice("format", options.format, FORMATS)
    _check_choice("timeframe", options.timeframe, list(TIMEFRAMES))
    _check_choice("metric", options.metric, METRICS)
    _check_choice("order", options.order, ORDERS)
    if options.fast >= options.slow:
        raise ValueError(f"fast ({options.fast}) must be shorter than slow ({options.slow})")
    destination(options.to, "")
    resolve_window(
        options.window, options.start, options.end
    )  # BadRequest (a ValueError) names window, start or end
    if options.exchange is not None and not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", options.exchange):
        raise ValueError(f"exchange must be an exchange id like kraken, got {options.exchange!r}")
    quote = options.quote.upper() if options.quote else None
    if quote is not None and not re.fullmatch(r"[A-Z0-9.]+", quote):
        raise ValueError(f"quote must be a currency code like USD, got {options.quote!r}")
    pair = split_pair(options.pair) if options.pair else None
    if pair is not None and not re.fullmatch(r"[A-Z0-9.]+/[A-Z0-9.]+", pair):
        raise ValueError(f"pair must look like BTC-USD or BTC/USD, got {options.pair!r}")
    return replace(options, pair=pair, quote=quote)


@dataclass(frozen=True, slots=True)
class S3Location:
    """``s3://bucket/prefix``: where exported files go in a bucket."""

    bucket: str
    prefix: str

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name


def destination(to: str | None, instance_path: str) -> Path | S3Location:
    """The folder or S3 location ``to`` names (None: the instance folder's ``exports/``);
    ValueError for a malformed S3 URL or another scheme."""
    if to is None:
        return Path(instance_path) / "exports"
    if to.startswith("s3://"):
        bucket, _, prefix = to.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"to {to!r} names no bucket: write s3://bucket or s3://bucket/prefix")
        if not BUCKET.fullmatch(bucket) or ".." in bucket:
            raise ValueError(
                f"to {to!r}: {bucket!r} is not an S3 bucket name "
                "(3 to 63 lowercase letters, digits, dots and hyphens)"
            )
        return S3Location(bucket, prefix.strip("/"))
    if "://" in to:
        raise ValueError(f"to {to!r}: only local folders and s3://bucket/prefix URLs are supported")
    return Path(to).expanduser()


def file_name(options: ExportOptions, when: datetime) -> str:
    """``<what>[-<exchange>][-<BASE-QUOTE>]-<yyyymmddThhmmssZ>.<format>``, the time in UTC."""
    pair = options.pair.replace("/", "-") if options.pair else None
    stem = "-".join(part for part in (options.what, options.exchange, pair) if part)
    return f"{stem}-{when.astimezone(UTC):%Y%m%dT%H%M%SZ}.{options.format}"


def check_settings(config: Mapping[str, Any]) -> None:
    """Check the export settings (EXPORTS and EXPORT_S3_*); ConfigError names the bad key, and for
    EXPORTS the entry and its key."""
    endpoint = config["EXPORT_S3_ENDPOINT_URL"]
    parts = urlsplit(endpoint) if isinstance(endpoint, str) else None
    if endpoint is not None and not (parts and parts.scheme in ("http", "https") and parts.hostname):
        raise ConfigError(
            "EXPORT_S3_ENDPOINT_URL must be an http(s) URL like http://127.0.0.1:9000, or null; "
            f"got {endpoint!r}"
        )
    threshold = config["EXPORT_S3_MULTIPART_THRESHOLD"]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold < 0:
        raise ConfigError(f"EXPORT_S3_MULTIPART_THRESHOLD must be a non-negative number, got {threshold!r}")
    region = config["EXPORT_S3_REGION"]
    if region is not None and not (isinstance(region, str) and region.strip()):
        raise ConfigError(f"EXPORT_S3_REGION must be a region name like eu-west-1, or null; got {region!r}")
    specs = config["EXPORTS"]
    if not isinstance(specs, list) or not all(isinstance(spec, Mapping) for spec in specs):
        raise ConfigError(
            'EXPORTS must be a JSON list of export specs like [{"what": "ticks", "to": "s3://bucket/prefix"}]'
        )
    for index, spec in enumerate(specs):
        try:
            parse_spec(spec)
        except ValueError as error:
            raise ConfigError(f"EXPORTS[{index}]: {error}") from None
