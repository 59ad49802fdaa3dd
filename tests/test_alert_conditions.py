"""The alert state machine (analysis.alerts), vectorised across rules, against a plain
one-rule-at-a-time reference written here, and the semantics case by case."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptocrunch.analysis.alerts import (
    ARMED,
    DONE,
    DOWN,
    EITHER,
    EXPIRED,
    FIRED,
    NEVER,
    NO_EXPIRY,
    UP,
    WAITING,
    Firing,
    Rules,
    evaluate,
    initial_state,
)


def rules_of(*specs):
    """Rules from dicts of the fields that differ from Rules.empty."""
    rules = Rules.empty(len(specs))
    for i, spec in enumerate(specs):
        for key, value in spec.items():
            getattr(rules, key)[i] = value
        rules.state[i] = initial_state(bool(rules.crossing[i]))
    return rules


def run(rules, *series):
    """Evaluate rules over (ts, value) series (one per rule), all at once."""
    width = max(len(s) for s in series)
    ts = np.zeros((len(series), width), dtype=np.int64)
    values = np.full((len(series), width), np.nan)
    for i, points in enumerate(series):
        for j, (t, v) in enumerate(points):
            ts[i, j], values[i, j] = t, v
    return evaluate(rules, ts, values)


def series(*values, start=0, step=60_000):
    return [(start + i * step, v) for i, v in enumerate(values)]


def test_above_fires_at_once_when_already_above_and_crossing_up_waits_for_a_crossing():
    rules = rules_of({"level": 100.0}, {"level": 100.0, "crossing": True})
    points = series(105, 106, 99, 101)
    fired = run(rules, points, points)
    # above: at once, and again after 99 re-armed it; crossing: only the pass from 99 to 101
    assert fired == [Firing(0, 0, 105.0), Firing(0, 180_000, 101.0), Firing(1, 180_000, 101.0)]
    assert list(rules.state) == [FIRED, FIRED]


def test_rearm_needs_the_hysteresis_and_once_fires_once():
    rearm = {"level": 100.0, "hysteresis_pct": 1.0}
    rules = rules_of(rearm, {**rearm, "once": True})
    # 99.5 is below the level but not by 1 %: no re-arm; 98.9 re-arms, 100.5 fires again
    points = series(101, 99.5, 100.5, 98.9, 100.5)
    fired = run(rules, points, points)
    assert [(f.rule, f.value) for f in fired] == [(0, 101.0), (1, 101.0), (0, 100.5)]
    assert list(rules.state) == [FIRED, DONE]


def test_below_crosses_down_and_either_are_mirrors():
    rules = rules_of(
        {"level": 100.0, "direction": DOWN},
        {"level": 100.0, "direction": DOWN, "crossing": True},
        {"level": 5.0, "direction": EITHER, "inclusive": True},
    )
    prices = series(99, 101, 99)
    changes = series(1.0, -5.0, 4.0, 6.0)
    fired = run(rules, prices, prices, changes)
    assert [(f.ts, f.rule, f.value) for f in fired] == [
        (0, 0, 99.0),  # below: at once
        (60_000, 2, -5.0),  # |change| >= 5
        (120_000, 0, 99.0),  # below again, after 101 re-armed it
        (120_000, 1, 99.0),  # the crossing down from 101
        (180_000, 2, 6.0),  # after 4 re-armed it
    ]


def test_cooldown_skips_a_firing_and_the_rule_fires_once_it_is_over():
    rules = rules_of({"level": 100.0, "cooldown_ms": 180_000})
    # fires at 0; clears at 1; above again at 2 (120 s after: cooling down); fires at 3 (180 s)
    fired = run(rules, series(101, 99, 101, 102))
    assert [(f.ts, f.value) for f in fired] == [(0, 101.0), (180_000, 102.0)]


def test_expiry_ends_the_rule():
    rules = rules_of({"level": 100.0, "expires": 120_000})
    fired = run(rules, series(99, 99, 101))
    assert fired == []
    assert rules.state[0] == EXPIRED


def test_catching_up_after_downtime_fires_what_one_cycle_at_a_time_would():
    points = series(90, 101, 95, 102, 99, 103, start=1_000)
    spec = {"level": 100.0, "crossing": True, "cooldown_ms": 60_000}
    at_once = run(rules_of(spec), points)
    stepwise_rules = rules_of(spec)
    stepwise = [f for point in points for f in run(stepwise_rules, [point])]
    assert at_once == stepwise
    assert [f.value for f in at_once] == [101.0, 102.0, 103.0]


def test_nan_padding_and_missing_observations_leave_rules_alone():
    rules = rules_of({"level": 100.0}, {"level": 100.0})
    assert run(rules, series(101), []) == [Firing(0, 0, 101.0)]
    assert list(rules.state) == [FIRED, ARMED]


# -- against a plain reference --------------------------------------------------------------------


def reference(spec, points):
    """One rule, one observation at a time, written from the module docstring."""
    level, direction = spec["level"], spec["direction"]
    inclusive, crossing, h = spec["inclusive"], spec["crossing"], spec["hysteresis_pct"]
    state = "waiting" if crossing else "armed"
    last_fired, fired = NEVER, []
    for ts, value in points:
        if state in ("done", "expired"):
            break
        if ts >= spec["expires"]:
            state = "expired"
            break
        margin = abs(level) * h / 100
        if direction == UP:
            beyond, cleared, near = (
                (value >= level if inclusive else value > level),
                value < level - margin,
                value <= level,
            )
        elif direction == DOWN:
            beyond, cleared, near = (
                (value <= level if inclusive else value < level),
                value > level + margin,
                value >= level,
            )
        else:
            beyond, cleared, near = abs(value) >= level, abs(value) < abs(level) - margin, False
        if state == "waiting":
            if near:
                state = "armed"
            continue
        if state == "fired" and cleared:
            state = "armed"
        if state == "armed" and beyond and ts - last_fired >= spec["cooldown_ms"]:
            fired.append((ts, value))
            last_fired = ts
            state = "done" if spec["once"] else "fired"
    return fired, state


rule_specs = st.fixed_dictionaries(
    {
        "level": st.sampled_from([95.0, 100.0, 105.0]),
        "direction": st.sampled_from([UP, DOWN, EITHER]),
        "inclusive": st.booleans(),
        "crossing": st.booleans(),
        "hysteresis_pct": st.sampled_from([0.0, 1.0, 5.0]),
        "once": st.booleans(),
        "cooldown_ms": st.sampled_from([0, 60_000, 300_000]),
        "expires": st.sampled_from([NO_EXPIRY, 600_000]),
    }
).filter(lambda s: not (s["crossing"] and s["direction"] == EITHER))
paths = st.lists(st.sampled_from([90.0, 94.0, 95.0, 99.5, 100.0, 100.5, 104.0, 105.0, 110.0]), max_size=15)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(rule_specs, paths), min_size=1, max_size=12))
def test_the_vectorised_pass_equals_the_reference_for_every_rule(cases):
    rules = rules_of(*(spec for spec, _ in cases))
    fired = run(rules, *(series(*values) for _, values in cases))
    names = {ARMED: "armed", FIRED: "fired", WAITING: "waiting", DONE: "done", EXPIRED: "expired"}
    for i, (spec, values) in enumerate(cases):
        expected, state = reference(spec, series(*values))
        assert [(f.ts, f.value) for f in fired if f.rule == i] == expected, (spec, values)
        if values:
            assert names[int(rules.state[i])] == state, (spec, values)
