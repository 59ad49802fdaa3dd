"""The only place that knows exchange wire formats: payloads in, validated frozen types out."""

from .base import BookTop, FetchResult, Rejection, Source, SourceFailure, Tick
from .coingecko import CoinGeckoSource
from .exchange import CcxtSource
from .retry import RetryPolicy

__all__ = [
    "BookTop",
    "CcxtSource",
    "CoinGeckoSource",
    "FetchResult",
    "Rejection",
    "RetryPolicy",
    "Source",
    "SourceFailure",
    "Tick",
]
