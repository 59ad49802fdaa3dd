"""Configuration precedence: defaults, instance/config.py, CRYPTOCRUNCH_* env, then --config."""

import json

import pytest

from cryptocrunch import create_app
from cryptocrunch.config import DEFAULT_MARKETS, ConfigError, read_json_file


@pytest.fixture
def instance(tmp_path, monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("CRYPTOCRUNCH_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CRYPTOCRUNCH_INSTANCE_PATH", str(tmp_path))
    return tmp_path


def test_defaults_cover_the_main_exchanges(instance):
    app = create_app()
    assert {"kraken", "coinbase", "bitstamp", "binance"} <= set(app.config["MARKETS"])
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'cryptocrunch.sqlite'}"
    assert app.instance_path == str(instance)


def test_instance_config_overrides_defaults_and_env_overrides_both(instance, monkeypatch):
    (instance / "config.py").write_text('COOLDOWN = 10\nMARKETS = {"kraken": ["BTC/USD"]}\n')
    app = create_app()
    assert app.config["COOLDOWN"] == 10
    assert app.config["MARKETS"] == {"kraken": ["BTC/USD"]}

    monkeypatch.setenv("CRYPTOCRUNCH_COOLDOWN", "20")
    monkeypatch.setenv("CRYPTOCRUNCH_MARKETS", '{"binance": ["ETH/USDT"]}')
    monkeypatch.setenv("CRYPTOCRUNCH_SQLALCHEMY_DATABASE_URI", "sqlite:///elsewhere.sqlite")
    app = create_app()
    assert app.config["COOLDOWN"] == 20
    assert app.config["MARKETS"] == {"binance": ["ETH/USDT"]}
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///elsewhere.sqlite"


def test_test_config_ignores_the_callers_environment(instance, monkeypatch):
    monkeypatch.setenv("CRYPTOCRUNCH_COOLDOWN", "20")
    (instance / "config.py").write_text("COOLDOWN = 10\n")
    app = create_app({"INSTANCE_PATH": str(instance), "TESTING": True})
    assert app.config["COOLDOWN"] == 300
    assert app.config["MARKETS"] == DEFAULT_MARKETS


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CRYPTOCRUNCH_MARKETS": '["BTC/USD"]'}, "MARKETS must be a JSON object"),
        ({"CRYPTOCRUNCH_MARKETS": '{"krakken": ["BTC/USD"]}'}, "'krakken' is not a ccxt exchange id"),
        ({"CRYPTOCRUNCH_MARKETS": '{"kraken": ["BTCUSD"]}'}, "'BTCUSD' is not a BASE/QUOTE pair"),
        ({"CRYPTOCRUNCH_EXCHANGE_OPTIONS": '{"kraken": 5}'}, "EXCHANGE_OPTIONS must be a JSON object"),
        ({"CRYPTOCRUNCH_COINGECKO_COINS": '{"ids": "bitcoin"}'}, "COINGECKO_COINS must be"),
        ({"CRYPTOCRUNCH_COOLDOWN": '"soon"'}, "COOLDOWN must be a non-negative number"),
        ({"CRYPTOCRUNCH_RETRY_MAX_TRIES": "0"}, "RETRY_MAX_TRIES must be at least 1"),
    ],
)
def test_bad_values_name_the_setting(instance, monkeypatch, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        create_app()


def test_json_file_settings_accept_both_spellings_and_reject_unknown_keys(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"CRYPTOCRUNCH_COOLDOWN": 5, "MARKETS": {"kraken": ["BTC/USD"]}}))
    assert read_json_file(str(good)) == {"COOLDOWN": 5, "MARKETS": {"kraken": ["BTC/USD"]}}

    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"MARKET": {}}))
    with pytest.raises(ConfigError, match="unknown setting 'MARKET'"):
        read_json_file(str(typo))

    broken = tmp_path / "broken.json"
    broken.write_text('{"COOLDOWN": ')
    with pytest.raises(ConfigError, match="is not valid JSON"):
        read_json_file(str(broken))

    database = tmp_path / "db.json"
    database.write_text(json.dumps({"SQLALCHEMY_DATABASE_URI": "sqlite://"}))
    with pytest.raises(ConfigError, match="CRYPTOCRUNCH_SQLALCHEMY_DATABASE_URI"):
        read_json_file(str(database))
