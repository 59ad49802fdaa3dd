"""Fixtures: app, client, runner and the fake exchange server, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

sys.path.insert(0, str(Path(__file__).parent))

from fake_exchange import FakeExchange
from helpers import fake_config

from cryptocrunch import create_app
from cryptocrunch.db import db, init_db

#: Set in CI: a test that needs PostgreSQL or Chromium fails instead of skipping.
REQUIRE_SERVICES = os.environ.get("CRYPTOCRUNCH_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "CRYPTOCRUNCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def need(condition: bool, reason: str) -> None:
    """Skip (or, with CRYPTOCRUNCH_REQUIRE_SERVICES=1, fail) when ``condition`` is false."""
    if condition:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (CRYPTOCRUNCH_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(reason)


def _postgres_available() -> str | None:
    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return None
    except sa.exc.SQLAlchemyError as error:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {type(error).__name__}"
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL database, dropped at the end of the session."""
    problem = _postgres_available()
    need(problem is None, problem or "")
    schema = f"cc_test_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that asks for it runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeExchange]:
    with FakeExchange() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeExchange) -> Iterator[FakeExchange]:
    """The fake exchange server, reset to its default markets and prices."""
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@contextmanager
def running_app(config: dict) -> Iterator[Flask]:
    """An app on an empty schema, disposed of afterwards."""
    app = create_app(config)
    with app.app_context():
        db.drop_all()
        init_db()
    yield app
    # a long-running command in the test left its delivery thread polling: stop it, or it would
    # poll the next test's tables (one PostgreSQL schema per run) with this app's secret key
    delivery = app.extensions.pop("cryptocrunch.delivery", None)
    if delivery is not None:
        thread, stop = delivery
        stop.set()
        thread.join(timeout=30)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(fake: FakeExchange, tmp_path: Path, database_url: str) -> Iterator[Flask]:
    with running_app(fake_config(fake, tmp_path / "instance", database_url)) as app:
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_app(fake, tmp_path, database_url):
    """Apps on the test database with extra settings (a fresh schema each)."""
    with ExitStack() as stack:

        def make(**settings):
            config = {**fake_config(fake, tmp_path / "instance", database_url), **settings}
            return stack.enter_context(running_app(config))

        yield make


REDIS_URL = os.environ.get("CRYPTOCRUNCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis (CRYPTOCRUNCH_TEST_REDIS_URL); skipped, or failed in CI, when unreachable."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
        problem = None
    except redis.RedisError as error:
        problem = f"Redis not reachable at {REDIS_URL}: {type(error).__name__}"
    finally:
        client.close()
    need(problem is None, problem or "")
    return REDIS_URL
