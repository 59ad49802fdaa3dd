"""MARKETS by rule: the shapes the setting takes, what `flask markets` says each resolves to, and how
a rule reads ccxt's market data (active spot markets, their quote currency, the tickers' volume),
against the fake exchange serving thousands of markets in each exchange's wire format."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import ccxt
import pytest
from conftest import SHARED_DATA, running_app
from helpers import fake_config, fake_options

from cryptocrunch import create_app
from cryptocrunch.config import ConfigError


@pytest.fixture
def make(fake, tmp_path):
    """An app (SQLite: `flask markets` reads no table) on the fake exchange with these MARKETS."""
    with ExitStack() as stack:

        def build(markets, **settings):
            config = fake_config(fake, tmp_path / "instance", f"sqlite:///{tmp_path / 'markets.sqlite'}")
            # thousands of markets an answer: a long timeout, so no slow answer becomes a retry
            config.update(MARKETS=markets, COINGECKO_COINS=None, EXCHANGE_OPTIONS=fake_options(fake, 15_000))
            config.update(settings)
            return stack.enter_context(running_app(config))

        yield build


def markets_cli(app, *args):
    return app.test_cli_runner().invoke(args=["markets", *args], catch_exceptions=False)


def blocks(output: str) -> dict[str, list[str]]:
    """`flask markets`' lines by exchange: its head line, then its pair lines."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        if not line.startswith(" "):
            found[line.split(":", 1)[0]] = [line]
        else:
            found[list(found)[-1]].append(line)
    return found


def listed_pairs(lines: list[str]) -> list[str]:
    text = " ".join(line.strip() for line in lines[1:])
    return [p for p in text.split(", ") if "/" in p and " " not in p]


@pytest.mark.parametrize(
    ("markets", "message"),
    [
        ({"binance": {"top": 0}}, "MARKETS['binance']: top must be a whole number of at least 1, got 0"),
        ({"binance": {"top": 2.5}}, "MARKETS['binance']: top must be a whole number of at least 1, got 2.5"),
        (
            {"binance": {"top": True}},
            "MARKETS['binance']: top must be a whole number of at least 1, got True",
        ),
        ({"okx": {"top": "200"}}, "MARKETS['okx']: top must be a whole number of at least 1, got '200'"),
        (
            {"binance": {"quote": "USDT"}},
            """MARKETS['binance']: quote must be a list of currency codes like ["USDT", "USD"], got 'USDT'""",
        ),
        ({"kraken": {"base": []}}, "MARKETS['kraken']: base must be a list of currency codes"),
        ({"kraken": {"base": ["BTC/USD"]}}, "MARKETS['kraken']: base must be a list of currency codes"),
        (
            {"binance": {"quotes": ["USDT"]}},
            "MARKETS['binance']: unknown key 'quotes'; a rule takes quote, base, top",
        ),
        ({"binance": "all"}, """MARKETS['binance']: 'all' is not a list of BASE/QUOTE pairs, "*" (every"""),
        ({"binance": 5}, "MARKETS['binance']: 5 is not a list of BASE/QUOTE pairs"),
        ({"kraken": ["BTC/USD", 7]}, "MARKETS['kraken']: 7 is not a BASE/QUOTE pair"),
        ({"kraken": ["BTC/"]}, "MARKETS['kraken']: 'BTC/' is not a BASE/QUOTE pair"),
        ({"krakken": "*"}, "MARKETS: 'krakken' is not a ccxt exchange id"),
        ([["kraken", "*"]], "MARKETS must be a JSON object like"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_exchange_and_the_key(tmp_path, monkeypatch, markets, message):
    monkeypatch.setenv("CRYPTOCRUNCH_MARKETS", json.dumps(markets))  # as a deployment's environment sets it
    monkeypatch.setenv("CRYPTOCRUNCH_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError) as refused:
        create_app()
    assert message in str(refused.value)


def test_every_shape_is_accepted_and_the_default_stays_small(tmp_path, monkeypatch):
    markets = {
        "kraken": ["BTC/USD", "ETH/USD"],
        "bitstamp": "*",
        "coinbase": {},
        "binance": {"quote": ["usdt", "USD"], "base": ["BTC"], "top": 3},
        "okx": {"top": 1},
    }
    monkeypatch.setenv("CRYPTOCRUNCH_MARKETS", json.dumps(markets))
    monkeypatch.setenv("CRYPTOCRUNCH_INSTANCE_PATH", str(tmp_path))
    assert create_app().config["MARKETS"] == markets
    monkeypatch.delenv("CRYPTOCRUNCH_MARKETS")
    default = create_app().config["MARKETS"]
    assert all(isinstance(pairs, list) and len(pairs) == 4 for pairs in default.values())


def test_flask_markets_prints_the_count_the_rule_and_the_pairs(make, fake):
    fake.add_markets("binance", 2000)
    fake.add_markets("bitstamp", 1500)
    app = make(
        {
            "kraken": ["BTC/USD", "eth/usd"],
            "binance": {"quote": ["USDT", "USD"], "top": 5},
            "bitstamp": "*",
            "coinbase": {"base": ["BTC", "ETH"], "quote": ["USD"]},
        }
    )

    result = markets_cli(app)

    assert result.exit_code == 0, result.output
    found = blocks(result.output)
    assert list(found) == ["kraken", "binance", "bitstamp", "coinbase"]
    assert found["kraken"] == ["kraken: 2 markets, the pairs listed in MARKETS", "  BTC/USD, ETH/USD"]
    top = [p for p in fake.ranking("binance") if p.split("/")[1] in ("USDT", "USD")][:5]
    head = found["binance"][0]
    assert head.startswith(
        "binance: 5 markets, the 5 active spot markets quoted in USDT or USD with the largest 24 h quote "
        "volume (of 2002 listed; volumes of "
    )
    assert listed_pairs(found["binance"]) == top  # by volume, largest first
    every = sorted(fake.markets["bitstamp"])
    assert found["bitstamp"][0] == "bitstamp: 1502 markets, every active spot market (of 1502 listed)"
    assert listed_pairs(found["bitstamp"]) == every[:10]
    assert found["bitstamp"][-1].endswith(", ... and 1492 more (--all prints every one)")
    assert found["coinbase"] == [
        "coinbase: 2 markets, every active spot market of BTC or ETH quoted in USD (of 2 listed)",
        "  BTC/USD, ETH/USD",
    ]
    # fixed pairs ask nothing; the rules load markets once, binance its tickers once to rank them
    assert fake.count("kraken") == 0
    assert fake.count("binance", "exchangeInfo") == 1
    assert fake.count("binance", "ticker/24hr") == 1
    assert fake.count("bitstamp", "ticker") == 0

    result = markets_cli(app, "--all", "--exchange", "bitstamp")
    assert result.exit_code == 0, result.output
    [(name, lines)] = blocks(result.output).items()
    assert name == "bitstamp"
    assert listed_pairs(lines) == every
    assert fake.count("bitstamp", "markets") == 1  # the instance's markets cache


def test_refresh_reloads_markets_and_volumes_from_the_exchange(make, fake):
    fake.add_markets("binance", 300, quotes=["USDT"])
    app = make({"binance": {"top": 3}})
    assert listed_pairs(blocks(markets_cli(app).output)["binance"]) == [
        "S00000/USDT",
        "S00001/USDT",
        "S00002/USDT",
    ]
    fake.set_ticker("binance", "S00299/USDT", 1.0, volume=1e12)  # now the largest by far

    # cached: markets and volumes are read from the instance folder, nothing is asked
    fresh = make({"binance": {"top": 3}})
    assert listed_pairs(blocks(markets_cli(fresh).output)["binance"])[0] == "S00000/USDT"
    assert (fake.count("binance", "exchangeInfo"), fake.count("binance", "ticker/24hr")) == (1, 1)

    result = markets_cli(fresh, "--refresh")
    assert listed_pairs(blocks(result.output)["binance"]) == ["S00299/USDT", "S00000/USDT", "S00001/USDT"]
    assert (fake.count("binance", "exchangeInfo"), fake.count("binance", "ticker/24hr")) == (2, 2)


def test_a_market_ccxt_cannot_tell_the_activity_of_counts_as_listed(make, fake, tmp_path):
    # Kraken's AssetPairs of 2021 (recorded) carry no "status": ccxt marks every pair inactive
    recorded = (SHARED_DATA / "responses" / "kraken" / "AssetPairs_all_2021-04-17.json").read_text()
    fake.serve_body("kraken", "/0/public/AssetPairs", recorded)
    kraken = ccxt.kraken({**fake.exchange_options()["kraken"], "enableRateLimit": False})
    markets = kraken.load_markets()
    assert markets and all(m["active"] is False for m in markets.values())
    expected = sorted({f"{m['base']}/{m['quote']}" for m in markets.values() if m["spot"]})
    assert len(expected) > 250

    app = make({"kraken": "*"})
    result = markets_cli(app, "--all")

    assert result.exit_code == 0, result.output
    lines = blocks(result.output)["kraken"]
    assert (
        lines[0] == f"kraken: {len(expected)} markets, every active spot market (of {len(expected)} listed)"
    )
    assert listed_pairs(lines) == expected
    assert "BTC/USD" in expected and "ETH/EUR" in expected


def test_a_market_the_exchange_marks_halted_is_not_listed_nor_a_contract(make, fake):
    fake.set_listing("kraken", ["BTC/USD", "ETH/USD", "DOGE/EUR"], inactive=["DOGE/EUR"])
    fake.set_listing("bitstamp", ["BTC/USD", "ETH/USD"], perpetuals=["BTC/USD"])
    fake.add_markets("binance", 20)
    fake.set_listing("binance", ["BTC/USDT", "ETH/USDT"], inactive=["ETH/USDT"])
    app = make({"kraken": "*", "bitstamp": "*", "binance": {"quote": ["USDT"]}})

    found = blocks(markets_cli(app).output)

    assert listed_pairs(found["kraken"]) == ["BTC/USD", "ETH/USD"]
    assert listed_pairs(found["bitstamp"]) == ["BTC/USD", "ETH/USD"]  # not BTC/USD:USD, the perpetual
    assert found["binance"][0].startswith("binance: 6 markets, every active spot market quoted in USDT")
    assert "ETH/USDT" not in listed_pairs(found["binance"])


def test_a_rule_matching_nothing_or_an_unreachable_exchange_is_an_error_naming_it(make, fake):
    fake.fail("binance", "503", times=10, path_contains="exchangeInfo")
    app = make({"kraken": {"quote": ["JPY"]}, "binance": "*", "coinbase": ["BTC/USD"]}, RETRY_MAX_TRIES=2)

    result = markets_cli(app)

    assert result.exit_code == 1
    found = blocks(result.output)
    assert found["kraken"] == [
        "kraken: ERROR MARKETS['kraken']: every active spot market quoted in JPY: none among the 3 active "
        "spot markets kraken lists",
        "  (every active spot market quoted in JPY)",
    ]
    assert found["binance"][0].startswith("binance: ERROR binance unavailable after 2 tries")
    assert found["coinbase"] == ["coinbase: 1 market, the pairs listed in MARKETS", "  BTC/USD"]
    assert "Error: could not resolve the markets of kraken, binance (see above)" in result.output
    assert markets_cli(app, "--exchange", "krakken").exit_code == 2


def test_the_volume_ranking_lives_next_to_the_markets_cache(make, fake):
    fake.add_markets("okx", 50)
    app = make({"okx": {"quote": ["EUR"], "top": 2}})
    assert markets_cli(app).exit_code == 0
    folder = Path(app.instance_path) / "markets"
    [volumes] = folder.glob("okx-*.volumes.json")
    saved = json.loads(volumes.read_text())
    ranking = fake.ranking("okx")
    assert sorted(saved["volumes"], key=lambda p: -saved["volumes"][p]) == ranking
    assert (
        listed_pairs(blocks(markets_cli(app).output)["okx"]) == [p for p in ranking if p.endswith("/EUR")][:2]
    )
