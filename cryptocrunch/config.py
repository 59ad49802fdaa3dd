"""Configuration defaults and validation.

Precedence (later wins): these defaults, ``instance/config.py``, environment
variables ``CRYPTOCRUNCH_<KEY>`` (values parsed as JSON), then a JSON file given
to ``flask collect --config`` or ``flask export --config``. Every key is documented in the README.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask

from .clock import parse_duration

#: Pairs collected per ccxt exchange id. MARKETS takes, per exchange, such a list, "*" (every active
#: spot market) or a rule {"quote": [...], "base": [...], "top": N} (collector/markets.py).
DEFAULT_MARKETS: dict[str, list[str]] = {
    "kraken": ["BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD"],
    "coinbase": ["BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD"],
    "bitstamp": ["BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD"],
    "binance": ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"],
}

DEFAULTS: dict[str, Any] = {
    "MARKETS": DEFAULT_MARKETS,
    "EXCHANGE_OPTIONS": {},
    "COINGECKO_URL": "https://api.coingecko.com/api/v3",
    "COINGECKO_API_KEY": None,
    "COINGECKO_COINS": {"ids": ["bitcoin", "ethereum", "solana", "ripple"], "vs_currencies": ["usd"]},
    # Free tier: about 30 calls a minute; keep calls at least this many seconds apart.
    "COINGECKO_MIN_INTERVAL": 2.5,
    "COLLECT_INTERVAL": 60,
    # `flask worker`'s collect job: store order-book tops too (what `flask collect --books` does).
    "COLLECT_BOOKS": False,
    # `flask worker`: job schedules over the defaults (worker/jobs.py; false turns a job off), how
    # long SIGTERM waits for a running job, where a first candle backfill starts.
    "JOBS": {},
    "WORKER_STOP_TIMEOUT": 60,
    "CANDLES_SINCE": "30d",
    # How many reverse proxies stand in front (their X-Forwarded-For/-Proto/-Host are trusted, so
    # log-in limits count the real address); 0: none, the headers are ignored.
    "PROXY_COUNT": 0,
    # flask backup and the worker's backup job: where (a folder, s3://bucket/prefix; null: the
    # instance's backups/) and how many to keep there.
    "BACKUP_TO": None,
    "BACKUP_KEEP": 7,
    # flask retention and the worker's retention job: how long each table keeps its rows (a
    # duration, or null: forever; rollups are always kept), and rows per delete statement.
    "RETENTION": {"tick": "90d", "book_top": "30d", "rejection": "30d", "run": "30d"},
    "RETENTION_BATCH": 5000,
    # /metrics: null, open to anyone who can reach it; a string: only for "Authorization: Bearer <it>".
    "METRICS_TOKEN": None,
    # Log lines of flask collect and flask worker: text, or json (one object a line).
    "LOG_FORMAT": "text",
    # /healthz answers 503 when the newest successful collect is older than this many seconds.
    "HEALTH_MAX_AGE": 300,
    # Market-cap snapshots (CoinGecko /coins/markets by cap): how many coins, and whether every
    # collect takes one (else only `flask collect --caps`).
    "CAPS_TOP": 100,
    "CAPS_EVERY_COLLECT": False,
    "REQUEST_TIMEOUT": 10.0,
    "RETRY_MAX_TRIES": 4,
    "RETRY_MAX_TIME": 30.0,
    "RETRY_BASE": 0.5,
    "COOLDOWN": 300,
    "MARKETS_CACHE_TTL": 86400,
    "BOOK_LIMIT": 100,
    # How far the order-book page and /book extrapolate the mid-price trend by default.
    "BOOK_FORECAST_HORIZON": "1h",
    "FUTURE_TOLERANCE": 60,
    # Exports (`flask export`, and EXPORTS: specs `flask collect` runs after each cycle; none by
    # default). S3 endpoint and region: null leaves them to boto3's standard chain (AWS_* variables,
    # ~/.aws/config); credentials only ever come from that chain. Files of at least
    # EXPORT_S3_MULTIPART_THRESHOLD bytes go up as multipart uploads.
    "EXPORTS": [],
    "EXPORT_S3_ENDPOINT_URL": None,
    "EXPORT_S3_REGION": None,
    "EXPORT_S3_MULTIPART_THRESHOLD": 8 * 1024 * 1024,
    # `flask similar` and the similar-exchanges API: how many similar exchanges to show, the volume
    # lookback, and how far (%) a market's price may be from its pair's cross-exchange median.
    "SIMILAR_TOP": 5,
    "SIMILAR_LOOKBACK": "7d",
    "SIMILAR_OUTLIER_PCT": 10.0,
    # The validation report: how many rejections (values and payloads) are kept per source, and
    # how many one source may have within an hour before its run is flagged (null: never flag).
    "REJECTIONS_KEEP": 1000,
    "REJECTIONS_ALERT": 50,
    # Accounts (README "Users and security"): who may sign up (open, first: only the first account,
    # the admin; closed), whether every page and endpoint needs a signed-in user or a token, and the
    # log-in limits (failed attempts per account and per address; the counts live in
    # RATELIMIT_STORAGE_URI: memory:// per process, or redis://host:6379 shared by every worker).
    "SIGNUP": "first",
    "REQUIRE_LOGIN": False,
    "LOGIN_LIMIT_ACCOUNT": "5 per minute",
    "LOGIN_LIMIT_ADDRESS": "20 per minute",
    "RATELIMIT_STORAGE_URI": "memory://",
    "CACHE_REDIS_URL": None,  # the API response cache in Redis (cache.py); null: per process
    # Notifications (README "Notification channels and the outbox"): tries per delivery, the first
    # retry's wait (doubling), how long a one-shot `flask collect` or `flask notify` waits for the
    # sends, and how many failed collect cycles in a row make a system event.
    "NOTIFY_MAX_TRIES": 5,
    "NOTIFY_RETRY_BASE": 30,
    "NOTIFY_TIMEOUT": 30,
    "NOTIFY_FAILURES_IN_ROW": 3,
    # At most this many alert notifications per user an hour; past it one summary says so.
    "ALERTS_MAX_PER_HOUR": 60,
}


class ConfigError(ValueError):
    """A configuration value is missing or has the wrong shape."""


@functools.cache
def ccxt_exchange_ids() -> frozenset[str]:
    """The exchange ids ccxt knows, without importing ccxt (seconds: it loads every exchange):
    ccxt ships one module per exchange id at the top of its package, the names ``ccxt.exchanges``
    lists (a test holds the two equal)."""
    spec = importlib.util.find_spec("ccxt")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("ccxt is not installed: pip install ccxt")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return frozenset(path.stem for path in folder.glob("*.py") if path.stem != "__init__")


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


#: The keys of a MARKETS rule object.
RULE_KEYS = ("quote", "base", "top")


def _is_pair(value: Any) -> bool:
    return isinstance(value, str) and value.count("/") == 1 and all(part.strip() for part in value.split("/"))


def _is_codes(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, str) and v.strip() and "/" not in v for v in value)
    )


def validate_markets(markets: Any) -> None:
    """Raise ConfigError naming the exchange and what is wrong with its MARKETS entry: a list of
    BASE/QUOTE pairs, ``"*"`` or a rule object with ``quote``, ``base`` (lists of currency codes)
    and ``top`` (a whole number), each optional."""
    if not isinstance(markets, Mapping):
        raise ConfigError(
            'MARKETS must be a JSON object like {"kraken": ["BTC/USD", "ETH/USD"], "binance": '
            '{"quote": ["USDT"], "top": 200}, "bitstamp": "*"}'
        )
    for exchange_id, rule in markets.items():
        if exchange_id not in ccxt_exchange_ids():
            raise ConfigError(f"MARKETS: {exchange_id!r} is not a ccxt exchange id")
        where = f"MARKETS[{exchange_id!r}]"
        if isinstance(rule, list):
            bad = [p for p in rule if not _is_pair(p)]
            if bad:
                raise ConfigError(f"{where}: {bad[0]!r} is not a BASE/QUOTE pair")
        elif isinstance(rule, Mapping):
            unknown = [key for key in rule if key not in RULE_KEYS]
            if unknown:
                raise ConfigError(f"{where}: unknown key {unknown[0]!r}; a rule takes {', '.join(RULE_KEYS)}")
            for key in ("quote", "base"):
                if key in rule and not _is_codes(rule[key]):
                    example = '["USDT", "USD"]'
                    raise ConfigError(
                        f"{where}: {key} must be a list of currency codes like {example}, got {rule[key]!r}"
                    )
            if "top" in rule and not _whole(rule["top"]):
                raise ConfigError(f"{where}: top must be a whole number of at least 1, got {rule['top']!r}")
        elif rule != "*":
            raise ConfigError(
                f'{where}: {rule!r} is not a list of BASE/QUOTE pairs, "*" (every active spot market) '
                'or a rule like {"quote": ["USDT", "USD"], "base": ["BTC"], "top": 200}'
            )


def validate(config: Mapping[str, Any]) -> None:
    """Raise ConfigError naming the first core key whose value has the wrong shape (extensions such
    as the exports check their own keys: ``add_check``)."""
    validate_markets(config["MARKETS"])
    options = config["EXCHANGE_OPTIONS"]
    if not isinstance(options, Mapping) or not all(isinstance(o, Mapping) for o in options.values()):
        raise ConfigError('EXCHANGE_OPTIONS must be a JSON object like {"kraken": {"timeout": 5000}}')
    coins = config["COINGECKO_COINS"]
    if coins and not (
        isinstance(coins, Mapping)
        and _is_str_list(coins.get("ids"))
        and _is_str_list(coins.get("vs_currencies"))
    ):
        raise ConfigError(
            'COINGECKO_COINS must be {"ids": ["bitcoin", ...], "vs_currencies": ["usd", ...]} or null'
        )
    for key in (
        "COLLECT_INTERVAL",
        "REQUEST_TIMEOUT",
        "RETRY_MAX_TRIES",
        "RETRY_MAX_TIME",
        "RETRY_BASE",
        "COOLDOWN",
        "MARKETS_CACHE_TTL",
        "BOOK_LIMIT",
        "FUTURE_TOLERANCE",
        "COINGECKO_MIN_INTERVAL",
        "CAPS_TOP",
        "HEALTH_MAX_AGE",
        "PROXY_COUNT",
    ):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{key} must be a non-negative number, got {value!r}")
    if config["RETRY_MAX_TRIES"] < 1:
        raise ConfigError("RETRY_MAX_TRIES must be at least 1")
    top = config["SIMILAR_TOP"]
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"SIMILAR_TOP must be a whole number of at least 1, got {top!r}")
    for key in ("SIMILAR_LOOKBACK", "BOOK_FORECAST_HORIZON"):
        try:
            parse_duration(config[key])
        except ValueError as error:
            raise ConfigError(f"{key}: {error}") from None
    _validate_rejections(config)
    pct = config["SIMILAR_OUTLIER_PCT"]
    if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 < pct < float("inf"):
        raise ConfigError(f"SIMILAR_OUTLIER_PCT must be a positive number (a percentage), got {pct!r}")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _validate_rejections(config: Mapping[str, Any]) -> None:
    keep, alert = config["REJECTIONS_KEEP"], config["REJECTIONS_ALERT"]
    if not _whole(keep):
        raise ConfigError(f"REJECTIONS_KEEP must be a whole number of at least 1, got {keep!r}")
    if alert is not None and not _whole(alert):
        raise ConfigError(f"REJECTIONS_ALERT must be a whole number of at least 1, or null; got {alert!r}")
    if alert is not None and alert >= keep:
        # only kept rejections are counted: a threshold at or above the bound could never be passed
        raise ConfigError(f"REJECTIONS_ALERT ({alert}) must be below REJECTIONS_KEEP ({keep})")


def read_json_file(path: str) -> dict[str, Any]:
    """Settings from a JSON object file; keys as in DEFAULTS, with or without ``CRYPTOCRUNCH_``."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except ValueError as error:
        raise ConfigError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object of settings")
    settings = {key.removeprefix("CRYPTOCRUNCH_"): value for key, value in data.items()}
    if "SQLALCHEMY_DATABASE_URI" in settings:
        raise ConfigError(f"{path}: set the database with CRYPTOCRUNCH_SQLALCHEMY_DATABASE_URI, not --config")
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r}; known: {', '.join(sorted(DEFAULTS))}")
    return settings


#: ``--config FILE.json`` of the commands that take settings for one run.
config_file_option = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON file of settings (same keys as the environment).",
)


#: A check of some settings: raises ConfigError naming the first bad key.
SettingsCheck = Callable[[Mapping[str, Any]], None]
_CHECKS = "cryptocrunch.settings_checks"


def add_check(app: Flask, check: SettingsCheck) -> None:
    """Have ``check`` (an extension's check of its own settings) run now and whenever the app's
    settings are checked again (``check_app``)."""
    app.extensions.setdefault(_CHECKS, []).append(check)
    check(app.config)


def check_app(app: Flask) -> None:
    """Check the app's settings: the core ones (``validate``), then each extension's."""
    validate(app.config)
    for check in app.extensions.get(_CHECKS, []):
        check(app.config)


def apply_config_file(app: Flask, path: str | None) -> None:
    """Lay a ``--config`` file's settings (if any) over the app's and check the result."""
    if path:
        app.config.update(read_json_file(path))
    check_app(app)
