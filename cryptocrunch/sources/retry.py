"""The one retry policy every source uses: exponential backoff with full jitter,
bounded in tries and total time, and never shorter than the server's Retry-After."""

from __future__ import annotations

import email.utils
import functools
import logging
import random
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import backoff
import ccxt
import requests
from backoff.types import Details

from .base import SourceFailure

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one source tries before it gives up for this cycle."""

    max_tries: int = 4
    max_time: float = 30.0
    base: float = 0.5
    cap: float = 30.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetryPolicy:
        """Build the policy from the RETRY_* settings."""
        return cls(
            max_tries=int(config["RETRY_MAX_TRIES"]),
            max_time=float(config["RETRY_MAX_TIME"]),
            base=float(config["RETRY_BASE"]),
        )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _waits(
    policy: RetryPolicy, retry_after: Callable[[Exception], float | None]
) -> Generator[float | None, Exception, None]:
    error = yield None  # primed by backoff; then it sends each exception and takes the next wait
    attempt = 0
    while True:
        wait = random.uniform(0, min(policy.cap, policy.base * 2**attempt))
        server_wait = retry_after(error)
        if server_wait is not None:
            wait = max(wait, server_wait)
        attempt += 1
        error = yield wait


@dataclass(slots=True)
class Attempts:
    """What a retried call went through: retries made and seconds spent."""

    retries: int = 0
    started: float = 0.0

    @property
    def elapsed(self) -> float:
        """Seconds since the first try."""
        return time.monotonic() - self.started


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    transient: Callable[[Exception], bool],
    retry_after: Callable[[Exception], float | None],
    attempts: Attempts,
    label: str,
) -> T:
    """Call ``fn``; retry transient errors under ``policy``; count retries in ``attempts``.

    A Retry-After longer than the whole time budget gives up at once: waiting
    it out is the cooldown's job, not this cycle's.
    """
    attempts.started = time.monotonic()

    def give_up(error: Exception) -> bool:
        if not transient(error):
            return True
        server_wait = retry_after(error)
        return server_wait is not None and server_wait > policy.max_time

    def on_backoff(details: Details) -> None:
        attempts.retries += 1
        # on_exception passes the exception too, but backoff's Details does not declare that key
        error = details["exception"]  # type: ignore[typeddict-item]
        log.info("%s: retry %d in %.2f s after %s", label, details["tries"], details["wait"], error)

    retrying = backoff.on_exception(
        # backoff types a wait generator as Generator[float, None, None], but it primes it with
        # send(None) (so the first yield is None) and then sends each exception into it
        functools.partial(_waits, policy, retry_after),  # type: ignore[arg-type]
        Exception,
        max_tries=policy.max_tries,
        max_time=policy.max_time,
        giveup=give_up,
        jitter=None,
        on_backoff=on_backoff,
        logger=None,
    )(fn)
    return retrying()


#: What a payload that ccxt or we could not make sense of raises.
MALFORMED = (ccxt.BadResponse, ValueError, TypeError, KeyError, AttributeError, IndexError)


def short(error: BaseException, limit: int = 160) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_failure(
    source: str, error: Exception, attempts: Attempts, cooldown: float, endpoint: str | None = None
) -> SourceFailure:
    """Turn any exception from one source into a SourceFailure whose message says what to do;
    ``endpoint`` is what was being fetched (kept with a malformed payload's rejection)."""
    tries = attempts.retries + 1
    spent = f"after {tries} {'try' if tries == 1 else 'tries'} ({attempts.elapsed:.1f} s)"
    rate_limited = isinstance(error, ccxt.DDoSProtection | ccxt.RateLimitExceeded) or getattr(
        error, "rate_limited", False
    )
    malformed = False
    if rate_limited:
        message = f"{source} rate-limited us {spent}; skipping it for {cooldown:.0f} s (COOLDOWN)"
    elif isinstance(error, ccxt.RequestTimeout | requests.Timeout):
        message = f"{source} timed out {spent}; check the exchange's status or raise REQUEST_TIMEOUT"
    elif isinstance(error, ccxt.ExchangeNotAvailable) or getattr(error, "status", 0) >= 500:
        message = f"{source} unavailable {spent} ({short(error, 80)}); it will be tried next cycle"
    elif isinstance(error, MALFORMED):
        malformed = True
        message = f"{source} sent a malformed payload ({type(error).__name__}: {short(error)})"
    elif isinstance(error, ccxt.NetworkError | OSError):
        message = f"no network: {source} unreachable {spent}; check the connection or EXCHANGE_OPTIONS urls"
    elif isinstance(error, ccxt.AuthenticationError) or getattr(error, "status", 0) in (401, 403):
        message = f"{source} refused our credentials ({short(error)}); check EXCHANGE_OPTIONS"
    else:
        message = f"{source}: {type(error).__name__}: {short(error)}"
    return SourceFailure(
        message,
        retries=attempts.retries,
        rate_limited=rate_limited,
        retry_after=getattr(error, "retry_after", None),
        endpoint=endpoint,
        malformed=malformed,
    )
