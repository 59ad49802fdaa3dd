"""/healthz: the database, the age of the last successful collect, the worker, each source."""

from __future__ import annotations

import time

from helpers import fake_config

from cryptocrunch import create_app


def collect(app, fake):
    fake.set_ticker("binance", "BTC/USDT", 100)
    result = app.test_cli_runner().invoke(args=["collect", "--exchange", "binance"])
    assert result.exit_code == 0, result.output


def test_healthy_after_a_collect_unhealthy_before_and_when_stale(make_app, fake):
    app = make_app()
    before = app.test_client().get("/healthz")
    assert before.status_code == 503
    assert before.json["database"] == "ok" and before.json["last_collect_age_s"] is None
    assert before.json["worker"] == "missing" and before.json["sources"] == {}
    collect(app, fake)
    after = app.test_client().get("/healthz")
    assert after.status_code == 200, after.json
    assert after.json["status"] == "healthy" and 0 <= after.json["last_collect_age_s"] < 60
    assert after.json["sources"]["binance"]["status"] == "ok"
    stale = make_app(HEALTH_MAX_AGE=0)
    collect(stale, fake)
    time.sleep(0.2)  # the collect is now older than HEALTH_MAX_AGE (0 s)
    answer = stale.test_client().get("/healthz")
    assert answer.status_code == 503 and answer.json["status"] == "unhealthy"


def test_an_unreachable_database_is_a_503_saying_so(fake, tmp_path):
    config = fake_config(fake, tmp_path / "instance", "postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    app = create_app({**config, "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}}})
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 503
    assert answer.json == {"status": "unhealthy", "database": "error: OperationalError"}
