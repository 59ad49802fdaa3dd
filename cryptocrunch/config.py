"""Configuration defaults and validation.

Precedence (later wins): these defaults, ``instance/config.py``, environment
variables ``CRYPTOCRUNCH_<KEY>`` (values parsed as JSON), then a JSON file given
to ``flask collect --config``. Every key is documented in the README.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import ccxt

#: Pairs collected per ccxt exchange id.
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
    "FUTURE_TOLERANCE": 60,
}


class ConfigError(ValueError):
    """A configuration value is missing or has the wrong shape."""


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def validate(config: Mapping[str, Any]) -> None:
    """Raise ConfigError naming the first key whose value has the wrong shape."""
    markets = config["MARKETS"]
    if not isinstance(markets, Mapping) or not all(_is_str_list(p) for p in markets.values()):
        raise ConfigError('MARKETS must be a JSON object like {"kraken": ["BTC/USD", "ETH/USD"]}')
    for exchange_id, pairs in markets.items():
        if exchange_id not in ccxt.exchanges:
            raise ConfigError(f"MARKETS: {exchange_id!r} is not a ccxt exchange id")
        bad = [p for p in pairs if p.count("/") != 1]
        if bad:
            raise ConfigError(f"MARKETS[{exchange_id!r}]: {bad[0]!r} is not a BASE/QUOTE pair")
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
    ):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{key} must be a non-negative number, got {value!r}")
    if config["RETRY_MAX_TRIES"] < 1:
        raise ConfigError("RETRY_MAX_TRIES must be at least 1")


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
