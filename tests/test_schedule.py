"""collector/schedule.py: a fixed-rate loop without drift or pile-up."""

import os
import signal
import threading

import pytest

from cryptocrunch.collector.schedule import next_slot, run_every, stop_on_signals


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (100.0, 110.0),  # at the start: the next slot
        (104.9, 110.0),  # a quick cycle waits for its slot
        (110.0, 120.0),  # exactly on a slot: the following one
        (135.2, 140.0),  # a slow cycle skips the slots it overran (110, 120, 130)
    ],
)
def test_next_slot_is_on_the_grid_and_in_the_future(now, expected):
    assert next_slot(100.0, now, 10.0) == expected


def test_next_slot_rejects_a_zero_interval():
    with pytest.raises(ValueError, match="positive"):
        next_slot(0, 1, 0)


def test_run_every_runs_until_stopped_and_finishes_the_current_cycle():
    stop = threading.Event()
    finished = []

    def job():
        if len(finished) == 2:
            stop.set()  # asked to stop mid-cycle: this cycle still completes
        finished.append(True)

    assert run_every(0.01, job, stop) == 3
    assert len(finished) == 3


class FakeStop:
    """A stop event whose wait() moves a fake clock instead of sleeping."""

    def __init__(self, clock):
        self.clock = clock
        self.stopped = False

    def is_set(self):
        return self.stopped

    def set(self):
        self.stopped = True

    def wait(self, timeout):
        self.clock[0] += timeout
        return self.stopped


def test_run_every_keeps_to_the_grid_and_skips_overrun_slots():
    now = [0.0]
    stop = FakeStop(now)
    starts = []

    def job():
        starts.append(now[0])
        now[0] += 25.0  # each cycle takes 2.5 intervals
        if len(starts) == 3:
            stop.set()

    run_every(10.0, job, stop, clock=lambda: now[0])
    # on the 10 s grid (no drift to 35, 70), overrun slots skipped (no 10, 20 pile-up)
    assert starts == [0.0, 30.0, 60.0]


def test_first_signal_sets_stop_and_restores_the_previous_handler():
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
        assert signal.getsignal(signal.SIGTERM) == before
    assert signal.getsignal(signal.SIGTERM) == before
