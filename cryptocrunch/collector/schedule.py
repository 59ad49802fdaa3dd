"""A fixed-rate loop: no drift, and a slow cycle skips the slots it overran instead of piling up."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


def next_slot(start: float, now: float, interval: float) -> float:
    """The first time ``start + k * interval`` (k a whole number) strictly after ``now``."""
    if interval <= 0:
        raise ValueError("interval must be positive")
    return start + (math.floor((now - start) / interval) + 1) * interval


def run_every(
    interval: float,
    job: Callable[[], None],
    stop: threading.Event,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Call ``job`` at start, start + interval, ... until ``stop`` is set; return how many cycles ran.

    A cycle in progress always finishes; ``stop`` only prevents the next one.
    """
    start = clock()
    cycles = 0
    while not stop.is_set():
        job()
        cycles += 1
        stop.wait(max(0.0, next_slot(start, clock(), interval) - clock()))
    return cycles


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Yield an event set by the first SIGTERM or SIGINT; a second one interrupts as usual."""
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signum, previous[signal.Signals(signum)])

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
