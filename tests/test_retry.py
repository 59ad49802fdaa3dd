"""sources/retry.py: bounded exponential backoff that honours Retry-After."""

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from cryptocrunch.sources.retry import Attempts, RetryPolicy, call_with_retry, parse_retry_after


class Transient(Exception):
    def __init__(self, retry_after=None):
        super().__init__("transient")
        self.retry_after = retry_after


def flaky(failures):
    """A callable that raises the given exceptions in turn, then returns 'ok'."""
    calls = []

    def fn():
        calls.append(time.monotonic())
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return "ok"

    return fn, calls


QUICK = RetryPolicy(max_tries=4, max_time=5, base=0.001)


def call(fn, policy=QUICK):
    attempts = Attempts()
    result = call_with_retry(
        fn,
        policy=policy,
        transient=lambda e: isinstance(e, Transient),
        retry_after=lambda e: getattr(e, "retry_after", None),
        attempts=attempts,
        label="test",
    )
    return result, attempts


def test_transient_errors_are_retried_and_counted():
    fn, calls = flaky([Transient(), Transient()])
    result, attempts = call(fn)
    assert result == "ok"
    assert len(calls) == 3
    assert attempts.retries == 2


def test_tries_are_bounded():
    fn, calls = flaky([Transient()] * 10)
    with pytest.raises(Transient):
        call(fn)
    assert len(calls) == 4


def test_non_transient_errors_are_not_retried():
    fn, calls = flaky([KeyError("bad symbol")])
    with pytest.raises(KeyError):
        call(fn)
    assert len(calls) == 1


def test_retry_after_is_waited_out():
    fn, calls = flaky([Transient(retry_after=0.3)])
    result, attempts = call(fn)
    assert result == "ok"
    assert calls[1] - calls[0] >= 0.3
    assert attempts.retries == 1


def test_a_retry_after_longer_than_the_budget_gives_up_at_once():
    fn, calls = flaky([Transient(retry_after=60)])
    with pytest.raises(Transient):
        call(fn, RetryPolicy(max_tries=4, max_time=5, base=0.001))
    assert len(calls) == 1


def test_parse_retry_after_seconds_and_http_dates():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < parse_retry_after(later) <= 30
