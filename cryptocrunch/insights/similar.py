"""Similar exchanges, from what is stored: listings (``flask similar``) compared by
``analysis.similar``, the volume trend of the markets two exchanges share (their ticks' 24 h
volumes, sampled hourly), and shared symbols that are probably not the same asset. Never calls an
exchange. Every result is plain JSON-ready data; an exchange without a stored listing raises
``NotFound``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from ..analysis.similar import most_similar, overlap, trend
from ..clock import HOUR
from ..errors import BadRequest, NotFound
from ..storage import listings, markets, ticks
from .params import Window, lookback_window

#: Ticks of CoinGecko's aggregate are stored as this exchange; it lists no markets of its own.
AGGREGATE = "coingecko"

#: Markets whose latest tick is older than this (ms) behind the newest one of their pair are not
#: compared: a price from yesterday would "deviate" by a day's move.
OUTLIER_MAX_AGE = HOUR


def volume_history(session: Session, keys: Iterable[tuple[str, str]], window: Window) -> pd.DataFrame:
    """Hourly volume samples of the markets ``keys`` ((exchange, pair)) in ``window``: a frame (exchange,
    pair, ts, base_volume, quote_volume) by exchange, pair and ts. Each row is the last stored tick
    of one UTC hour that carries a volume; a volume the tick lacks is NaN."""
    ids = markets.known_ids(session, keys)
    samples = ticks.read_hourly_volumes(session, sorted(ids.values()), window.start, window.end)
    names = {id_: key for key, id_ in ids.items()}
    samples.insert(0, "exchange", [names[m][0] for m in samples["market_id"]])
    samples.insert(1, "pair", [names[m][1] for m in samples["market_id"]])
    samples = samples.drop(columns="market_id").sort_values(["exchange", "pair", "ts"], kind="stable")
    return samples.reset_index(drop=True)


def _none(value: Any) -> Any:
    """NaN (a missing volume) as None, numpy numbers as Python ones."""
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    return value


def _volume_row(pair: str, exchange: str, samples: pd.DataFrame, history: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "pair": pair,
        "exchange": exchange,
        "hours": len(samples),
        "first_ts": int(samples["ts"].iloc[0]),
        "last_ts": int(samples["ts"].iloc[-1]),
    }
    for kind in ("base", "quote"):
        column = samples[["ts", f"{kind}_volume"]].dropna()
        values: dict[str, float | None] = dict.fromkeys(("first", "last", "pct_change", "slope_per_day"))
        if len(column) == 1:
            values["first"] = values["last"] = float(column[f"{kind}_volume"].iloc[0])
        elif len(column) > 1:
            values = trend(column["ts"].to_numpy(), column.iloc[:, 1].to_numpy())
        row.update({f"{kind}_{key}": value for key, value in values.items()})
    if history:
        row["history"] = [
            {"ts": int(ts), "base_volume": _none(base), "quote_volume": _none(quote)}
            for ts, base, quote in samples[["ts", "base_volume", "quote_volume"]].itertuples(index=False)
        ]
    return row


def volume_trend(
    session: Session,
    a: str,
    b: str,
    window: Window,
    pairs: Iterable[str] | None = None,
    history: bool = False,
) -> list[dict[str, Any]]:
    """The volume trend, over ``window``, of each market that exchanges ``a`` and ``b`` share.

    Volume here is what the exchanges' tickers carry, stored with every tick: the traded volume
    of the last 24 hours, rolling, in the base currency (``base_*``) and in the quote currency
    (``quote_*``). It is sampled once an hour, the last stored tick of each UTC hour that carries
    a volume, so markets collected every minute and every hour weigh the same. The trend of those
    samples is their % change first → last and their least-squares slope against time in volume
    units per day (``trend``); with one sample first = last and the rest None.

    ``pairs`` narrows the markets (default: every pair with ticks stored on both exchanges). One
    row per (pair, exchange) with a sample in the window, by pair then exchange; ``history`` adds
    the hourly samples to each row.
    """
    if pairs is None:
        by_exchange = markets.pairs_by_exchange(session, [a, b])
        pairs = by_exchange[a] & by_exchange[b]
    wanted = sorted(set(pairs))
    samples = volume_history(session, [(e, p) for p in wanted for e in sorted({a, b})], window)
    return [
        _volume_row(str(pair), str(exchange), group, history)
        for (pair, exchange), group in samples.groupby(["pair", "exchange"], sort=True)
    ]


def outliers(
    session: Session, pct: float, exchange: str | None = None, max_age_ms: int = OUTLIER_MAX_AGE
) -> list[dict[str, Any]]:
    """Check that a pair listed on several exchanges is the same asset everywhere: a market whose
    latest price is more than ``pct`` % from the median latest price of its pair across exchanges
    is flagged (same ticker, different coin; or a broken feed).

    A pair's markets are compared when their latest tick is at most ``max_age_ms`` older than the
    pair's newest one; CoinGecko's aggregate is not an exchange and is left out. With 3 or more
    exchanges the median ignores one odd price. With 2 the median is their mean: both deviate by
    the same amount in opposite directions, so both are flagged once they are far enough apart,
    marked ``ambiguous`` (which one is the other coin cannot be told). A pair on one exchange is
    not checked. One row per compared market, flagged first, largest |deviation| first;
    ``exchange`` keeps that exchange's rows (still compared with every exchange).
    """
    if not (isinstance(pct, int | float) and 0 < pct < math.inf):
        raise BadRequest(f"pct must be a positive number, got {pct!r}")
    by_pair: dict[str, list[tuple[str, float, int]]] = {}
    for name, pair, tick in ticks.latest_ticks(session):
        if name != AGGREGATE:
            by_pair.setdefault(pair, []).append((name, tick.last, tick.ts))
    rows: list[dict[str, Any]] = []
    for pair, quoted in by_pair.items():
        newest = max(ts for _, _, ts in quoted)
        fresh = [m for m in quoted if m[2] >= newest - max_age_ms]
        if len(fresh) < 2:
            continue
        median = float(np.median([price for _, price, _ in fresh]))
        for name, price, ts in fresh:
            deviation = 100 * (price - median) / median
            rows.append(
                {
                    "pair": pair,
                    "exchange": name,
                    "price": price,
                    "ts": ts,
                    "median": median,
                    "deviation_pct": deviation,
                    "exchanges": len(fresh),
                    "flagged": abs(deviation) > pct,
                    "ambiguous": len(fresh) == 2,
                }
            )
    if exchange is not None:
        rows = [r for r in rows if r["exchange"] == exchange]
    rows.sort(key=lambda r: (not r["flagged"], -abs(r["deviation_pct"]), r["pair"], r["exchange"]))
    return rows


def similar_exchanges(
    session: Session,
    exchange: str,
    *,
    window: Window,
    top: int = 5,
    outlier_pct: float = 10.0,
    exchanges: Sequence[str] | None = None,
    history: bool = False,
) -> dict[str, Any]:
    """Everything about one exchange's similar exchanges, from what is stored: its ``top`` most
    similar exchanges (``most_similar`` over the stored listings of ``exchanges``, default all),
    each with the volume trend of the markets both list (``volume_trend`` over ``window``), and
    the outlier check of its own markets (``outliers``). ``missing`` names the exchanges of
    ``exchanges`` without a stored listing (their markets could not be loaded yet)."""
    stored = listings.read_listings(session, exchanges)
    if exchange not in stored:
        configured = exchanges is None or exchange in exchanges
        raise NotFound(
            f"no listing of {exchange} stored: run flask similar"
            if configured
            else f"{exchange} is not a configured exchange; configured: {', '.join(exchanges or ())}"
        )
    own = stored[exchange]
    rows = overlap({name: listing.pairs for name, listing in stored.items()})
    similar = []
    for row in most_similar(rows, exchange, top):
        other = stored[row["exchange"]]
        volume = volume_trend(session, exchange, row["exchange"], window, own.pairs & other.pairs, history)
        similar.append({**row, "pairs": len(other.pairs), "refreshed": other.refreshed, "volume": volume})
    return {
        "exchange": exchange,
        "pairs": len(own.pairs),
        "refreshed": own.refreshed,
        "window": window.name,
        "similar": similar,
        "outlier_pct": outlier_pct,
        "outliers": outliers(session, outlier_pct, exchange),
        "missing": [name for name in exchanges or () if name not in stored],
    }


def configured_answer(
    session: Session,
    config: Mapping[str, Any],
    exchange: str,
    lookback: str | None = None,
    top: int | None = None,
) -> dict[str, Any]:
    """``similar_exchanges`` among the configured exchanges, with SIMILAR_LOOKBACK, SIMILAR_TOP and
    SIMILAR_OUTLIER_PCT where ``lookback`` and ``top`` are not given (what the page and API show)."""
    return similar_exchanges(
        session,
        exchange,
        window=lookback_window(lookback or config["SIMILAR_LOOKBACK"]),
        top=int(config["SIMILAR_TOP"]) if top is None else top,
        outlier_pct=float(config["SIMILAR_OUTLIER_PCT"]),
        exchanges=[e for e in config["MARKETS"] if e != AGGREGATE],
    )


def shared_volumes(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The volume rows of a ``similar_exchanges`` answer once each (the exchange's own markets come
    with every similar exchange), by pair, the exchange's own market first."""
    rows = {(v["pair"], v["exchange"]): v for row in result["similar"] for v in row["volume"]}
    own = result["exchange"]
    return [rows[key] for key in sorted(rows, key=lambda k: (k[0], k[1] != own, k[1]))]
