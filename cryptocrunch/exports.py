"""``flask export``: ticks, candles, statistics and rankings as CSV or Parquet, to a folder or to S3.

Nothing is exported unless asked: ``flask export WHAT`` for one export, or the specs listed in
the ``EXPORTS`` setting, which ``flask collect`` runs after each cycle. The rows come from the
same functions as the API (``insights``, ``storage``), so a file and the JSON for the same
filters hold the same values.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import click
import pandas as pd
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from . import insights, orderbook, similar, storage
from .config import ConfigError, apply_config_file, config_file_option
from .db import db
from .sources.base import TIMEFRAMES

log = logging.getLogger(__name__)

FORMATS = ("csv", "parquet")
CONTENT_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
ORDERS = ("desc", "asc")
#: Whole-number keys and their ranges (those of the API's parameters).
INT_RANGES = {"limit": (1, 1000), "fast": (1, 500), "slow": (2, 1000)}
#: S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens, a letter or digit at each end.
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class ExportError(Exception):
    """An export failed and wrote nothing; the message says what failed and what to do."""


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


# -- the rows of each kind of export ---------------------------------------------------------------


def _window(options: ExportOptions) -> insights.Window:
    return insights.resolve_window(options.window, options.start, options.end)


def _frame(rows: list[dict], dtypes: Mapping[str, str]) -> pd.DataFrame:
    """Rows as a frame with exactly these columns and types (an empty export keeps its schema)."""
    return pd.DataFrame(rows, columns=list(dtypes)).astype(dict(dtypes))


def _markets(session: Session, options: ExportOptions) -> pd.DataFrame:
    """The stored markets (market_id, exchange, pair) that the exchange, pair and quote filters
    select, by exchange and pair; NotFound when there are none."""
    markets = insights.stored_markets(session, options.exchange, options.quote)
    if options.pair:
        markets = markets[markets["pair"] == options.pair]
    if markets.empty:
        wanted = " ".join(
            part for part in ("market", options.pair, options.quote and f"quoted in {options.quote}") if part
        )
        raise insights.NotFound(
            f"no {wanted} on {options.exchange or 'any exchange'} has been collected"
            " (GET /api/v1/markets lists the stored markets)"
        )
    return markets.sort_values(["exchange", "pair"], kind="stable")


TICK_TYPES = {
    "exchange": "string",
    "pair": "string",
    "ts": "int64",
    "last": "float64",
    "bid": "float64",
    "ask": "float64",
    "base_volume": "float64",
    "quote_volume": "float64",
}


def ticks_frame(session: Session, options: ExportOptions) -> pd.DataFrame:
    """Every stored tick of the matching markets in the window, by exchange, pair and ts."""
    window = _window(options)
    markets = _markets(session, options)
    ranges = dict.fromkeys(markets["market_id"].tolist(), (window.start, window.end))
    ticks = markets.merge(storage.read_ticks(session, ranges), on="market_id")
    ticks = ticks.sort_values(["exchange", "pair", "ts"], kind="stable", ignore_index=True)
    return ticks[list(TICK_TYPES)].astype(TICK_TYPES)


# The API's candle columns (CandleOut), after the market's.
CANDLE_TYPES = {
    "exchange": "string",
    "pair": "string",
    "ts": "int64",
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "volume": "float64",
    "source": "string",
    "ema_fast": "float64",
    "ema_slow": "float64",
    "cross": "string",
}


def candles_frame(session: Session, options: ExportOptions) -> pd.DataFrame:
    """Candles of the matching markets as ``/api/v1/markets/.../candles`` serves them (with
    EMA(fast), EMA(slow) and the crossovers), market by market."""
    window = _window(options)
    rows = [
        {"exchange": exchange, "pair": pair, **candle}
        for exchange, pair in _markets(session, options)[["exchange", "pair"]].itertuples(index=False)
        for candle in insights.candles(
            session, exchange, pair, options.timeframe, window, options.fast, options.slow
        )
    ]
    return _frame(rows, CANDLE_TYPES)


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested statistics (``largest_delta.value``) as flat columns (``largest_delta_value``)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}_"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


_MOVE_TYPES = {"value": "float64", "ts_from": "int64", "ts_to": "int64"}
# The API's statistics (StatsOut), nested moves flattened.
STATS_TYPES = {
    "exchange": "string",
    "pair": "string",
    "window": "string",
    "n": "int64",
    "first_ts": "int64",
    "last_ts": "int64",
    **dict.fromkeys(("first", "last", "min", "max", "stdev", "volatility"), "float64"),
    **{f"largest_delta_{k}": v for k, v in _MOVE_TYPES.items()},
    **{f"largest_pct_move_{k}": v for k, v in _MOVE_TYPES.items()},
    "pct_change": "float64",
}


def stats_frame(session: Session, options: ExportOptions) -> pd.DataFrame:
    """One row of statistics per matching market; markets with too few ticks in the window are left
    out and listed in ``frame.attrs["skipped"]``."""
    window = _window(options)
    rows, skipped = [], []
    for exchange, pair in _markets(session, options)[["exchange", "pair"]].itertuples(index=False):
        try:
            result = insights.market_stats(session, exchange, pair, window)
        except ValueError as reason:  # too few ticks in the window
            skipped.append(f"{exchange} {pair}: {reason}")
            continue
        stats = _flat(insights.stats_dict(result))
        rows.append({"exchange": exchange, "pair": pair, "window": window.name, **stats})
    frame = _frame(rows, STATS_TYPES)
    frame.attrs["skipped"] = skipped
    return frame


# The API's ranking columns (RankingRow).
RANKING_TYPES = {
    "rank": "int64",
    "exchange": "string",
    "pair": "string",
    "value": "float64",
    "n": "int64",
    "first_ts": "int64",
    "last_ts": "int64",
}


def rankings_frame(session: Session, options: ExportOptions) -> pd.DataFrame:
    """Markets ranked as ``/api/v1/rankings`` ranks them (metric, order, quote, limit)."""
    if options.exchange or options.quote:
        _markets(session, options)  # an unknown exchange is an error, not an empty file
    rows = insights.rankings(
        session,
        options.metric,
        _window(options),
        exchange=options.exchange,
        quote=options.quote,
        limit=options.limit,
        order=options.order,
    )
    return _frame(rows, RANKING_TYPES)


BOOK_TYPES = {
    "exchange": "string",
    "pair": "string",
    **{c: ("int64" if c == "ts" else "float64") for c in storage.BOOK_COLUMNS[1:]},
    "mid": "float64",
    "spread": "float64",
    "spread_bps": "float64",
}


def book_frame(session: Session, options: ExportOptions) -> pd.DataFrame:
    """Every stored order-book top of the matching markets in the window (best bid/ask, sizes,
    depth within ±0.5 % and ±1 %), with mid, spread and spread in basis points."""
    window = _window(options)
    frames = [
        orderbook.book_frame(session, market_id, window).assign(exchange=exchange, pair=pair)
        for market_id, exchange, pair in _markets(session, options).itertuples(index=False)
    ]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return _frame(frame.to_dict("records"), BOOK_TYPES)


SIMILAR_TYPES = {"exchange": "string", "other": "string", "shared": "int64", "jaccard": "float64"}


def similar_frame(session: Session, options: ExportOptions) -> pd.DataFrame:
    """Pair-set overlap (shared pairs, Jaccard) of every two exchanges with a stored listing (both
    ways round), or of ``--exchange`` with each other, most similar first."""
    listings = storage.read_listings(session)
    if options.exchange and options.exchange not in listings:
        raise insights.NotFound(f"no listing of {options.exchange} stored: run flask similar")
    overlap = similar.overlap({name: listing.pairs for name, listing in listings.items()})
    rows = [
        {"exchange": a, "other": b, "shared": r["shared"], "jaccard": r["jaccard"]}
        for r in overlap
        for a, b in ((r["a"], r["b"]), (r["b"], r["a"]))
        if options.exchange in (None, a)
    ]
    rows.sort(key=lambda r: (r["exchange"], -r["jaccard"], -r["shared"], r["other"]))
    return _frame(rows, SIMILAR_TYPES)


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of export: how its rows are built, which keys it takes besides COMMON, and its help."""

    build: Callable[[Session, ExportOptions], pd.DataFrame]
    options: frozenset[str]
    help: str


#: What ``flask export WHAT`` and EXPORTS can write. A new kind is one entry here.
KINDS: dict[str, Kind] = {
    "ticks": Kind(
        ticks_frame, frozenset({"exchange", "pair", "quote"}), "every stored tick of the matching markets"
    ),
    "candles": Kind(
        candles_frame,
        frozenset({"exchange", "pair", "quote", "timeframe", "fast", "slow"}),
        "OHLCV candles with EMAs and crossovers of the matching markets (--timeframe, --fast, --slow)",
    ),
    "stats": Kind(stats_frame, frozenset({"exchange", "pair", "quote"}), "statistics per matching market"),
    "rankings": Kind(
        rankings_frame,
        frozenset({"exchange", "quote", "metric", "order", "limit"}),
        "markets ranked by --metric (--order, --limit)",
    ),
    "similar": Kind(
        similar_frame,
        frozenset({"exchange"}),
        "listing overlap (shared pairs, Jaccard) of every two exchanges",
    ),
    "book": Kind(
        book_frame,
        frozenset({"exchange", "pair", "quote"}),
        "every stored order-book top of the matching markets, with mid and spread",
    ),
}


# -- specs and destinations ------------------------------------------------------------------------


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
    _check_choice("metric", options.metric, insights.METRICS)
    _check_choice("order", options.order, ORDERS)
    if options.fast >= options.slow:
        raise ValueError(f"fast ({options.fast}) must be shorter than slow ({options.slow})")
    destination(options.to, "")
    _window(options)  # BadRequest (a ValueError) names window, start or end
    if options.exchange is not None and not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", options.exchange):
        raise ValueError(f"exchange must be an exchange id like kraken, got {options.exchange!r}")
    quote = options.quote.upper() if options.quote else None
    if quote is not None and not re.fullmatch(r"[A-Z0-9.]+", quote):
        raise ValueError(f"quote must be a currency code like USD, got {options.quote!r}")
    pair = insights.split_pair(options.pair) if options.pair else None
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


# -- writing ---------------------------------------------------------------------------------------


def write_frame(frame: pd.DataFrame, fmt: str, handle: BinaryIO) -> None:
    """Write ``frame`` as CSV (header, no index, empty cells for missing values) or Parquet."""
    if fmt == "csv":
        frame.to_csv(handle, index=False, lineterminator="\n")
    else:
        frame.to_parquet(handle, index=False, engine="pyarrow")


def write_local(frame: pd.DataFrame, fmt: str, folder: Path, name: str) -> Path:
    """Write ``folder/name`` atomically: a temporary file in the same folder, renamed when complete,
    so readers never see half a file and a failure leaves nothing."""
    final = folder / name
    partial = folder / f".{name}.{secrets.token_hex(4)}.part"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(partial, "xb") as handle:
            write_frame(frame, fmt, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, final)
    except OSError as error:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise ExportError(
            f"cannot write {final}: {error.strerror or error}; make {folder} writable or pick another --to"
        ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise
    return final


def s3_client(config: Mapping[str, Any]) -> Any:
    """An S3 client for EXPORT_S3_ENDPOINT_URL and EXPORT_S3_REGION; unset, boto3's standard chain
    decides (AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, ~/.aws/config). Credentials come from that chain
    only (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role)."""
    import boto3  # only S3 exports pay for importing boto3
    from botocore.config import Config

    endpoint = config["EXPORT_S3_ENDPOINT_URL"]
    # LocalStack and MinIO expect the bucket in the path, not in the host name.
    settings = Config(s3={"addressing_style": "path"}) if endpoint else None
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=config["EXPORT_S3_REGION"], config=settings
    )


def _boto_cause(error: BaseException) -> BaseException:
    """The botocore error behind ``error`` (boto3's S3UploadFailedError hides the ClientError)."""
    from botocore.exceptions import BotoCoreError, ClientError

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, BotoCoreError | ClientError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return error


ACCESS_DENIED = frozenset(
    {"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}
)


def explain_s3_error(error: BaseException, url: str, bucket: str, endpoint: str) -> str:
    """What failed uploading to ``url`` and what to do about it."""
    from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    cause = _boto_cause(error)
    if isinstance(cause, ClientError):
        code = cause.response.get("Error", {}).get("Code", "")
        status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = cause.response.get("Error", {}).get("Message", "")
        if code == "NoSuchBucket":
            return (
                f"cannot upload {url}: bucket {bucket!r} does not exist at {endpoint}; "
                f"create it (aws s3 mb s3://{bucket}) or fix the bucket in --to"
            )
        if code in ACCESS_DENIED or status == 403:
            return (
                f"cannot upload {url}: access denied ({code or status}: {message}); check the AWS "
                "credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and that "
                f"they may s3:PutObject in {bucket}"
            )
        return (
            f"cannot upload {url}: {cause.operation_name} failed with {code} (HTTP {status}): {message}; "
            "run the export again"
        )
    if isinstance(cause, NoCredentialsError):
        return (
            f"cannot upload {url}: no AWS credentials found; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
        )
    if isinstance(cause, BotoConnectionError | HTTPClientError):
        return (
            f"cannot upload {url}: S3 endpoint {endpoint} unreachable ({cause}); check "
            "EXPORT_S3_ENDPOINT_URL (or AWS_ENDPOINT_URL) and the network"
        )
    return f"cannot upload {url}: {type(cause).__name__}: {cause}"


def _abort_unfinished(client: Any, bucket: str, key: str) -> str:
    """Abort any multipart upload of ``key`` a failure left behind (s3transfer aborts its own, but
    that abort can fail too); return a note for the error message when it cannot be checked."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        listing = client.list_multipart_uploads(Bucket=bucket, Prefix=key)
        for upload in listing.get("Uploads", []):
            if upload["Key"] == key:
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return ""
        return _unchecked_note(bucket, key)
    except BotoCoreError:
        return _unchecked_note(bucket, key)
    return ""


def _unchecked_note(bucket: str, key: str) -> str:
    return (
        f" (an unfinished multipart upload may be left: aws s3api list-multipart-uploads --bucket "
        f"{bucket} --prefix {key} shows it, abort-multipart-upload removes it)"
    )


def upload(frame: pd.DataFrame, fmt: str, target: S3Location, name: str, config: Mapping[str, Any]) -> str:
    """Upload ``frame`` as ``name`` under ``target``; return its s3:// URL. An S3 object appears
    whole or not at all; a failed multipart upload is aborted, so a failure leaves nothing."""
    from boto3.exceptions import Boto3Error
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import BotoCoreError, ClientError

    key = target.key(name)
    url = f"s3://{target.bucket}/{key}"
    endpoint = config["EXPORT_S3_ENDPOINT_URL"] or "AWS S3"
    threshold = int(config["EXPORT_S3_MULTIPART_THRESHOLD"])
    with tempfile.TemporaryDirectory(prefix="cryptocrunch-export-") as folder:
        path = Path(folder) / name
        with open(path, "wb") as handle:
            write_frame(frame, fmt, handle)
        client = None
        try:
            client = s3_client(config)
            endpoint = client.meta.endpoint_url
            client.upload_file(
                str(path),
                target.bucket,
                key,
                ExtraArgs={"ContentType": CONTENT_TYPES[fmt]},
                Config=TransferConfig(multipart_threshold=threshold),
            )
        except (BotoCoreError, ClientError, Boto3Error, ValueError) as error:
            multipart = client is not None and path.stat().st_size >= threshold
            note = _abort_unfinished(client, target.bucket, key) if multipart else ""
            raise ExportError(explain_s3_error(error, url, target.bucket, endpoint) + note) from None
    return url


@dataclass(frozen=True, slots=True)
class Exported:
    """Where an export went and how many rows it holds."""

    what: str
    location: str
    rows: int
    skipped: tuple[str, ...] = ()

    def describe(self) -> str:
        """What to print: the row count and where it went, then the markets left out."""
        line = f"{self.what}: {self.rows} row{'s' if self.rows != 1 else ''} written to {self.location}"
        if self.skipped:
            line += f" (skipped {len(self.skipped)} market{'s' if len(self.skipped) != 1 else ''})"
        return "\n".join([line, *(f"  skipped {why}" for why in self.skipped)])


def export(
    session: Session,
    options: ExportOptions,
    config: Mapping[str, Any],
    instance_path: str,
    now: datetime | None = None,
) -> Exported:
    """Build the rows ``options`` ask for and write them where ``options.to`` says; ExportError
    (nothing written) when the filters match nothing or the write fails."""
    try:
        frame = KINDS[options.what].build(session, options)
        target = destination(options.to, instance_path)
    except (insights.NotFound, ValueError) as error:
        raise ExportError(f"{options.what}: {error}") from None
    name = file_name(options, now or datetime.now(UTC))
    if isinstance(target, S3Location):
        location = upload(frame, options.format, target, name, config)
    else:
        location = str(write_local(frame, options.format, target, name))
    return Exported(options.what, location, len(frame), tuple(frame.attrs.get("skipped", ())))


def run_configured(session: Session, config: Mapping[str, Any], instance_path: str) -> Iterator[str]:
    """Run the exports listed in EXPORTS (``flask collect`` does after each cycle), yielding a line
    for each; a failing export is reported and the next one still runs."""
    for spec in config["EXPORTS"]:
        options = parse_spec(spec)  # checked when the settings were validated
        try:
            yield f"{'export':<12} {export(session, options, config, instance_path).describe()}"
        except ExportError as error:
            yield f"{'export':<12} {options.what} ERROR {error}"
        except Exception as error:  # a bug in one export must not stop the collector
            log.exception("export %s failed", options.what)
            yield f"{'export':<12} {options.what} ERROR unexpected {type(error).__name__}: {error}"
        finally:
            session.rollback()  # end the read transaction, a failed one too


# -- the command -----------------------------------------------------------------------------------


def _help() -> str:
    kinds = "\n".join(f"  {name:<9} {kind.help}" for name, kind in KINDS.items())
    return (
        "Export WHAT as CSV or Parquet to a folder (default: the instance folder's exports/) or to "
        "s3://bucket/prefix, with the API's filters.\n\n"
        f"\b\nWHAT:\n{kinds}\n\n"
        "The file is named <what>[-<exchange>][-<BASE-QUOTE>]-<UTC time>.<format>."
    )


@click.command("export", help=_help())
@click.argument("what")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="csv (default) or parquet.")
@click.option("--to", help="A folder, or s3://bucket/prefix (default: the instance folder's exports/).")
@click.option("--exchange", help="Only this exchange (ccxt id, or coingecko).")
@click.option("--pair", help="Only this pair, BTC-USD or BTC/USD.")
@click.option("--quote", help="Only pairs quoted in this currency, e.g. USD.")
@click.option(
    "--window", type=click.Choice(list(insights.WINDOWS)), help="1h, 24h (default), 7d, 30d or all."
)
@click.option("--start", help="ISO 8601 with a time zone, or epoch ms (instead of --window).")
@click.option("--end", help="ISO 8601 with a time zone, or epoch ms, inclusive (instead of --window).")
@click.option("--timeframe", type=click.Choice(list(TIMEFRAMES)), help="candles: 1m, 5m, 1h (default), 1d.")
@click.option("--fast", type=int, help="candles: fast EMA span in candles (default 12).")
@click.option("--slow", type=int, help="candles: slow EMA span in candles (default 26).")
@click.option("--metric", type=click.Choice(insights.METRICS), help="rankings: default volatility.")
@click.option("--order", type=click.Choice(ORDERS), help="rankings: desc (default) or asc (losers first).")
@click.option("--limit", type=int, help="rankings: how many rows (default 20, at most 1000).")
@config_file_option
@with_appcontext
def export_command(what: str, fmt: str | None, config_file: str | None, **filters: Any) -> None:
    app = current_app._get_current_object()
    try:
        apply_config_file(app.config, config_file)
        options = parse_spec({"what": what, "format": fmt, **filters})
    except (ConfigError, ValueError) as error:
        raise click.UsageError(str(error)) from None
    try:
        done = export(db.session, options, app.config, app.instance_path)
    except ExportError as error:
        raise click.ClickException(str(error)) from None
    click.echo(done.describe())


def init_app(app: Flask) -> None:
    """Register ``flask export``."""
    app.cli.add_command(export_command)
