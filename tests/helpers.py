"""Small readers of what a test run stored."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from fake_exchange import FakeExchange
from flask import Flask

from cryptocrunch.db import db
from cryptocrunch.models import BookTop, Exchange, Market, Run, Tick


def _stored(app: Flask, model: type[Tick] | type[BookTop]) -> dict[tuple[str, str], list]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Exchange.name, Market.pair, model)
            .join(Market.exchange)
            .join(model, model.market_id == Market.id)
            .order_by(model.ts)
        )
        found: dict[tuple[str, str], list] = {}
        for name, pair, row in rows:
            found.setdefault((name, pair), []).append(row)
        db.session.expunge_all()
        return found


def stored_ticks(app: Flask) -> dict[tuple[str, str], list[Tick]]:
    """Every stored tick by (exchange, pair), oldest first."""
    return _stored(app, Tick)


def stored_books(app: Flask) -> dict[tuple[str, str], list[BookTop]]:
    """Every stored book top by (exchange, pair), oldest first."""
    return _stored(app, BookTop)


def runs(app: Flask) -> list[Run]:
    """Every run row, oldest first."""
    with app.app_context():
        found = list(db.session.scalars(sa.select(Run).order_by(Run.id)))
        db.session.expunge_all()
        return found


def last_runs(app: Flask) -> dict[str, Run]:
    """The newest run row of each source."""
    return {run.source: run for run in runs(app)}


def fake_options(fake: FakeExchange, timeout_ms: int = 1000) -> dict:
    """EXCHANGE_OPTIONS pointing every exchange at the fake one, without ccxt's rate limiter.

    Tests of thousands of markets an answer pass a long timeout: on a loaded machine one slow
    answer must not become a retry (which a test counting requests would see)."""
    options = fake.exchange_options(timeout_ms=timeout_ms)
    for exchange_options in options.values():
        exchange_options["enableRateLimit"] = False
    return options


def fake_config(fake: FakeExchange, instance: Path, database_url: str) -> dict:
    """Settings that point every source at the fake exchange, with tiny retry waits."""
    options = fake_options(fake)
    return {
        "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MARKETS": {name: list(pairs) for name, pairs in fake.markets.items() if name != "coingecko"},
        "EXCHANGE_OPTIONS": options,
        "COINGECKO_URL": fake.coingecko_url,
        "COINGECKO_COINS": {"ids": ["bitcoin", "ethereum"], "vs_currencies": ["usd"]},
        "COINGECKO_MIN_INTERVAL": 0,
        "REQUEST_TIMEOUT": 1.0,
        "RETRY_MAX_TRIES": 4,
        "RETRY_MAX_TIME": 10.0,
        "RETRY_BASE": 0.01,
        "COOLDOWN": 300,
    }
