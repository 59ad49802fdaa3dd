"""flask import-candles: real files from ../shared/data/candles and small files in each layout."""

import csv
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from conftest import SHARED_DATA, need
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptocrunch.db import db
from cryptocrunch.models import Candle

CANDLES = SHARED_DATA / "candles"


def count(app, timeframe=None):
    with app.app_context():
        query = sa.select(sa.func.count()).select_from(Candle)
        if timeframe:
            query = query.where(Candle.timeframe == timeframe)
        return db.session.scalar(query)


def real(name):
    need(CANDLES.is_dir(), f"candle files not found at {CANDLES}")
    return str(CANDLES / name)


def data_rows(path, skip):
    with open(path, encoding="utf-8") as handle:
        return sum(1 for _ in handle) - skip


@pytest.mark.parametrize(
    ("name", "args", "layout", "timeframe", "skip"),
    [
        ("coinbase_BTCUSD_1d_2014-12_2019-10_cdd.csv", [], "cryptodatadownload", "1d", 2),
        ("cdd_BTCUSD_1h_2018-05_2022-03.csv", [], "cryptodatadownload", "1h", 1),
        ("binance_BTCUSDT_1d_2020.csv", ["--pair", "BTC/USDT"], "generic", "1d", 1),
        ("kraken_XBTUSDT_1m_2025-11-10.csv", ["--pair", "BTC/USDT"], "generic", "1m", 1),
        ("freqtrade_XRPETH_1m_2019-10.csv", ["--pair", "XRP/ETH"], "generic", "1m", 1),
        ("bittrex_BTCUSDT_1d_2015-12_2018-06.csv", ["--pair", "BTC/USDT"], "generic", "1d", 1),
    ],
)
def test_real_files_import_whole(app, runner, name, args, layout, timeframe, skip):
    path = real(name)
    result = runner.invoke(args=["import-candles", path, "--exchange", "someex", *args])
    assert result.exit_code == 0, result.output
    rows = data_rows(path, skip)
    assert f"{layout} layout" in result.output
    assert f"{rows} rows, stored {rows}," in result.output
    assert count(app, timeframe) == rows
    again = runner.invoke(args=["import-candles", path, "--exchange", "someex", *args])
    assert f"stored 0, already stored {rows}" in again.output


def test_newest_first_files_are_sorted_and_their_gaps_reported(app, client, runner):
    result = runner.invoke(
        args=["import-candles", real("coinbase_BTCUSD_1d_2014-12_2019-10_cdd.csv"), "--exchange", "coinbase"]
    )
    assert "1 gap(s); widest from 2019-03-19" in result.output
    rows = client.get("/api/v1/markets/coinbase/BTC-USD/candles?timeframe=1d&window=all").get_json()
    assert rows[0]["ts"] < rows[-1]["ts"]
    assert {r["source"] for r in rows} == {"stored"}
    with open(real("coinbase_BTCUSD_1d_2014-12_2019-10_cdd.csv"), encoding="utf-8") as handle:
        newest = list(csv.reader(handle))[2]
    assert (rows[-1]["open"], rows[-1]["close"]) == (float(newest[2]), float(newest[5]))


def test_swapped_volumes_are_put_back(app, runner):
    result = runner.invoke(
        args=["import-candles", real("cdd_BTCUSD_1h_2018-05_2022-03.csv"), "--exchange", "x"]
    )
    assert "rows whose base and quote volumes were swapped" in result.output
    with app.app_context():
        worst = db.session.scalar(sa.select(sa.func.max(Candle.volume * Candle.close)))
    assert worst < 5e9  # a base volume times a price, not a dollar volume times a price


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


BINANCE = (
    "1577836800000000,7195.24,7255.0,7175.15,7200.85,16792.38,1577923199999,1.2e8,194010,8946.95,6.4e7,0\n"
    "1577923200000000,7200.77,7212.5,6924.74,6965.71,31951.48,1578009599999,2.2e8,302667,15141.6,1.0e8,0\n"
    "1577923200000000,7200.77,7212.5,6924.74,6965.71,31951.48,1578009599999,2.2e8,302667,15141.6,1.0e8,0\n"
    "1578009600000000,6965.49,7405.0,6871.04,7344.96,68428.5,1578095999999,4.9e8,519854,35290.3,2.5e8,0\n"
)


def test_binance_klines_in_microseconds_collapse_identical_duplicates(app, runner, tmp_path):
    path = write(tmp_path, "klines.csv", BINANCE)
    result = runner.invoke(args=["import-candles", path, "--exchange", "binance", "--pair", "BTC/USDT"])
    assert result.exit_code == 0, result.output
    assert "binance klines layout, binance BTC/USDT 1d: 4 rows, stored 3" in result.output
    assert "identical duplicates collapsed 1" in result.output


def test_kraken_ohlcvt_in_seconds(app, runner, tmp_path):
    path = write(
        tmp_path, "XBTUSD_60.csv", "1700000000,100,101,99,100.5,2.5,10\n1700003600,100.5,102,100,101,1.5,7\n"
    )
    result = runner.invoke(
        args=["import-candles", path, "--exchange", "kraken", "--pair", "BTC/USD", "--timeframe", "1h"]
    )
    assert result.exit_code == 1  # 1700000000 is not on an hour: the file is refused, nothing stored
    assert "line 1: time is not on a 1h boundary" in result.output
    path = write(
        tmp_path, "XBTUSD_60.csv", "1699999200,100,101,99,100.5,2.5,10\n1700002800,100.5,102,100,101,1.5,7\n"
    )
    result = runner.invoke(args=["import-candles", path, "--exchange", "kraken", "--pair", "BTC/USD"])
    assert "kraken ohlcvt layout, kraken BTC/USD 1h: 2 rows, stored 2" in result.output


GENERIC = """timestamp,open,high,low,close,volume
2024-01-01T00:00:00Z,10,11,9,10.5,1
2024-01-01T01:00:00Z,10.5,12,10,11,2
2024-01-01T02:00:00Z,11,10,12,11,2
2024-01-01T03:00:00Z,11,12,10,eleven,2
2024-01-01T04:00:00Z,11,12,10,11.5,-3
2024-01-01T01:00:00Z,10.5,12,10,11.2,2
2024-01-01T05:00:00Z,11.5,12,11,11.8,1
"""


def test_bad_and_conflicting_rows_refuse_the_file_unless_skip_bad(app, runner, tmp_path):
    path = write(tmp_path, "generic.csv", GENERIC)
    refused = runner.invoke(args=["import-candles", path, "--exchange", "x", "--pair", "ABC/USD"])
    assert refused.exit_code == 1
    assert "4 bad or conflicting row(s); nothing was stored" in refused.output
    for expected in (
        "line 4: high 10.0 < low 12.0",
        "line 5: close is not a number",
        "line 6: negative volume",
        "line 7: conflicts with line 3",
    ):
        assert expected in refused.output
    assert count(app) == 0

    kept = runner.invoke(args=["import-candles", path, "--exchange", "x", "--pair", "ABC/USD", "--skip-bad"])
    assert kept.exit_code == 0, kept.output
    assert "7 rows, stored 2" in kept.output  # 00:00 and 05:00; 01:00 conflicts, the rest are bad
    assert "skipped line 7: conflicts with line 3" in kept.output
    assert count(app) == 2


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        ("a,b,c\n1,2,3\n", ["--pair", "A/B"], "unrecognised header"),
        ("1,2,3\n", ["--pair", "A/B"], "must be Binance klines"),
        ("timestamp,open,high,low,close\n2024-01-01,1,1,1,1\n", [], "does not name its pair"),
        (
            "timestamp,open,high,low,close\n2024-01-01,1,1,1,1\n2024-01-09,1,1,1,1\n",
            ["--pair", "A/B"],
            "cannot tell the timeframe",
        ),
        ("", ["--pair", "A/B"], "the file is empty"),
    ],
)
def test_unusable_files_say_why(app, runner, tmp_path, text, args, message):
    path = write(tmp_path, "f.csv", text)
    result = runner.invoke(args=["import-candles", path, "--exchange", "x", *args])
    assert result.exit_code == 1
    assert message in result.output


def assert_same_reading(text):
    """parse_clean (the vectorised path) reads exactly what parse (row by row) reads, or declines;
    it never accepts a file in which parse finds a bad row. Returns whether it read the file."""
    from cryptocrunch.sources.csvfiles import CsvFormatError, parse, parse_clean

    try:
        parsed = parse(text)
    except CsvFormatError:
        with pytest.raises(CsvFormatError):
            parse_clean(text)
        return False
    clean = parse_clean(text)
    if parsed.bad or not parsed.rows:
        assert clean is None
    if clean is None:
        return False
    assert (clean.layout, clean.pair, clean.swapped_volumes) == (
        parsed.layout,
        parsed.pair,
        parsed.swapped_volumes,
    )
    assert clean.ts.tolist() == [r.ts for r in parsed.rows]
    assert clean.ohlcv.tolist() == [[r.open, r.high, r.low, r.close, r.volume] for r in parsed.rows]
    return True


def test_the_fast_path_reads_the_real_files_as_the_row_path_does():
    need(CANDLES.is_dir(), f"candle files not found at {CANDLES}")
    fast = [
        p.name
        for p in sorted(CANDLES.glob("*.csv"))
        if assert_same_reading(p.read_text(encoding="utf-8-sig"))
    ]
    assert len(fast) >= 5, fast  # most real files are clean and take the vectorised path


TIMES = st.sampled_from(
    [
        lambda t: str(int(t.timestamp() * 1000)),  # epoch ms
        lambda t: str(int(t.timestamp())),  # epoch s
        lambda t: str(int(t.timestamp() * 1_000_000)),  # epoch µs
        lambda t: t.strftime("%Y-%m-%d %H:%M:%S"),  # naive ISO: UTC
        lambda t: t.astimezone(timezone(timedelta(hours=2))).isoformat(),  # zoned ISO
        lambda t: t.strftime("%Y-%m-%d %I-%p"),  # CryptoDataDownload hours
        lambda t: "yesterday",
    ]
)
CELLS = st.sampled_from(["1", "2.5", "0", "-1", "abc", "", "nan", "inf", "1e3", " 3", "7"])


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 5), TIMES, CELLS, CELLS, CELLS, CELLS, CELLS),
        min_size=1,
        max_size=8,
    ),
    header=st.sampled_from(["timestamp,open,high,low,close,volume", "time,open,high,low,close", None]),
)
def test_the_fast_path_never_disagrees_with_the_row_path(rows, header):
    lines = [header] if header else []
    for minute, form, *values in rows:
        when = datetime.fromtimestamp(1_700_000_000 + minute * 60, UTC)
        cells = [form(when), *values]
        if header == "time,open,high,low,close":
            cells = cells[:5]
        elif header is None:
            cells += ["0"]  # Kraken OHLCVT: trades
        lines.append(",".join(cells))
    assert_same_reading("\n".join(lines) + "\n")
