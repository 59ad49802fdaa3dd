"""Which markets to collect on each exchange: the MARKETS setting's pairs, or its rule resolved
against the exchange's own market list and tickers (ccxt's ``load_markets`` and ``fetch_tickers``).

A rule is ``"*"`` (every active spot market) or ``{"quote": [...], "base": [...], "top": N}`` (each
key optional): the active spot markets of those base and quote currencies, and of them the N with
the largest 24 h quote volume. Rules are resolved at each cycle from what the source has cached
(markets and the volume ranking live in the instance folder for MARKETS_CACHE_TTL and are reloaded
by the ``listings`` job), so a listing or ranking refreshed by one process is used by the next cycle.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..clock import utc_text
from ..sources.base import Source, SourceFailure
from ..sources.exchange import CcxtSource

#: How many pairs ``flask markets`` prints per exchange without ``--all``.
SHOWN = 10


def normalize_pair(pair: str) -> str:
    """Accept ``BTC-USD`` (URL form) or ``BTC/USD`` and return the unified ``BTC/USD``."""
    return pair.strip().upper().replace("-", "/")


def _codes(values: Any) -> tuple[str, ...] | None:
    return None if values is None else tuple(dict.fromkeys(v.strip().upper() for v in values))


def _either(codes: Sequence[str]) -> str:
    return " or ".join(codes) if len(codes) < 3 else f"{', '.join(codes[:-1])} or {codes[-1]}"


@dataclass(frozen=True, slots=True)
class MarketRule:
    """What MARKETS says for one exchange: fixed ``pairs``, or (``pairs`` None) every active spot
    market, narrowed to the ``base`` and ``quote`` currencies given and to the ``top`` N by 24 h
    quote volume. ``MarketRule(pairs=())``: everything the source offers (CoinGecko's coins)."""

    pairs: tuple[str, ...] | None = None
    quote: tuple[str, ...] | None = None
    base: tuple[str, ...] | None = None
    top: int | None = None

    @classmethod
    def from_config(cls, spec: Any) -> MarketRule:
        """The rule of one (validated: ``config.validate_markets``) MARKETS entry."""
        if isinstance(spec, list):
            return cls(pairs=tuple(dict.fromkeys(normalize_pair(p) for p in spec)))
        if spec == "*":
            return cls()
        return cls(quote=_codes(spec.get("quote")), base=_codes(spec.get("base")), top=spec.get("top"))

    def describe(self) -> str:
        """The rule in words, e.g. ``the 200 active spot markets quoted in USDT or USD with the
        largest 24 h quote volume``."""
        if self.pairs is not None:
            return "the pairs listed in MARKETS"
        which = "".join(
            [
                f" of {_either(self.base)}" if self.base else "",
                f" quoted in {_either(self.quote)}" if self.quote else "",
            ]
        )
        if self.top is None:
            return f"every active spot market{which}"
        return f"the {self.top} active spot markets{which} with the largest 24 h quote volume"

    def matches(self, pair: str) -> bool:
        """Whether ``pair`` (``BASE/QUOTE``) is of the rule's currencies (its ``top`` aside)."""
        base, _, quote = pair.partition("/")
        return (self.base is None or base in self.base) and (self.quote is None or quote in self.quote)


def rules(config: Mapping[str, Any]) -> dict[str, MarketRule]:
    """The rule of every exchange in MARKETS, by exchange."""
    return {name: MarketRule.from_config(spec) for name, spec in config["MARKETS"].items()}


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a rule resolved to: the pairs (by volume, largest first, for a ``top`` rule; else
    sorted), how many active spot markets the exchange lists (None for fixed pairs) and when the
    volumes ranked were fetched (epoch s; ``top`` rules only)."""

    pairs: list[str]
    listed: int | None = None
    ranked: float | None = None


def resolve(rule: MarketRule, source: Source, *, reload: bool = False) -> Resolved:
    """Resolve ``rule`` against ``source``'s active spot markets and (for ``top``) the 24 h quote
    volumes of its tickers, both as the source has them cached (``reload``: from the exchange now).

    A market without a quote volume in the exchange's tickers has no rank: ``top`` leaves it out.
    Raise SourceFailure when the markets or the volumes cannot be loaded, or when the rule matches
    none of the markets (the message says which rule and how many markets there are).
    """
    if rule.pairs is not None:
        return Resolved(list(rule.pairs))
    if not isinstance(source, CcxtSource):
        raise SourceFailure(f"{source.name} takes no MARKETS rule, only a list of pairs")
    listed = source.spot_pairs(reload=reload)
    chosen = [pair for pair in listed if rule.matches(pair)]
    ranked = None
    if rule.top is not None:
        volumes, ranked = source.quote_volumes(reload=reload)
        chosen = sorted((p for p in chosen if p in volumes), key=lambda p: (-volumes[p], p))[: rule.top]
    if not chosen:
        raise SourceFailure(
            f"MARKETS[{source.name!r}]: {rule.describe()}: none among the {len(listed)} active spot "
            f"markets {source.name} lists{' with a 24 h quote volume' if rule.top else ''}"
        )
    return Resolved(chosen, len(listed), ranked)


def resolve_all(
    sources: Mapping[str, tuple[Source, MarketRule]], *, reload: bool = False
) -> dict[str, Resolved | SourceFailure]:
    """Resolve every source's rule, concurrently (loading markets may take the network); by source,
    what it resolved to or why it could not."""

    def one(source: Source, rule: MarketRule) -> Resolved | SourceFailure:
        try:
            return resolve(rule, source, reload=reload)
        except SourceFailure as failure:
            return failure

    if not sources:
        return {}
    with ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="markets") as pool:
        futures = {name: pool.submit(one, source, rule) for name, (source, rule) in sources.items()}
        return {name: future.result() for name, future in futures.items()}


def describe_lines(
    name: str, rule: MarketRule, result: Resolved | SourceFailure, *, every: bool = False
) -> list[str]:
    """``flask markets``' lines for one exchange: the count and the rule, then the pairs (the first
    SHOWN of them unless ``every``)."""
    if isinstance(result, SourceFailure):
        return [f"{name}: ERROR {result}", f"  ({rule.describe()})"]
    count = len(result.pairs)
    head = f"{name}: {count} market{'s' if count != 1 else ''}, {rule.describe()}"
    notes = []
    if result.listed is not None:
        notes.append(f"of {result.listed} listed")
    if result.ranked is not None:
        notes.append(f"volumes of {utc_text(int(result.ranked * 1000))} UTC")
    lines = [head + (f" ({'; '.join(notes)})" if notes else "")]
    shown = result.pairs if every else result.pairs[:SHOWN]
    text = ", ".join(shown)
    if len(shown) < count:
        text += f", ... and {count - len(shown)} more (--all prints every one)"
    if shown:
        lines += textwrap.wrap(text, width=100, initial_indent="  ", subsequent_indent="  ")
    return lines
