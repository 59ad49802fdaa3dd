"""Alert conditions: the state machine of every rule, stepped through new observations for all
rules at once. Pure: arrays in, firings out; the caller stores the state between calls, so a
restart (or a pause of the evaluator) changes nothing about what fires.

A rule watches one series of observations (a price, a window statistic, a spread) against a
``level``:

* a **threshold** fires while the value is beyond the level in its direction (``above``: value >
  level; ``below``: value < level; ``either``: |value| >= level for a signed figure such as a %
  change), at once if it already is when the rule starts;
* a **crossing** (``crosses_up`` / ``crosses_down``) fires only when the value passes the level
  after having been on the other side of it (at or below it, for crossing up) since the rule
  started: a price already above the level when the rule is created does not fire until it has
  come back down.

After firing, ``once`` rules are done. ``rearm`` rules fire again only after the value has cleared
the level by ``hysteresis_pct`` (for ``above`` 100 000 with 0.5 %: dropped below 99 500), so a
price hovering at the level does not flap. ``cooldown`` is the least time between two firings of
a rule: a firing that would come sooner is skipped, and the rule stays armed, so it fires at the
first observation after the cooldown that still meets the condition. An observation at or after
``expires`` ends the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# States, stored as small integers.
ARMED = 0  #: the next observation that meets the condition fires
FIRED = 1  #: fired; waiting for the value to clear the level (rearm rules)
WAITING = 2  #: a crossing rule that has not yet seen the value on the near side of the level
DONE = 3  #: a ``once`` rule that fired
EXPIRED = 4  #: an observation reached ``expires``
STATES = ("armed", "fired", "waiting", "done", "expired")

# Directions.
UP = 1  #: above / crosses_up / up: value > level (>= for statistics)
DOWN = -1  #: below / crosses_down / down: value < level (<= -level for signed statistics)
EITHER = 0  #: |value| >= level

NO_EXPIRY = np.iinfo(np.int64).max
NEVER = np.iinfo(np.int64).min // 2


@dataclass(slots=True)
class Rules:
    """Every rule as one column of arrays (index i is rule i). ``state`` and ``last_fired`` change
    as ``step`` runs; the rest describes the rules."""

    direction: npt.NDArray[np.int8]
    #: statistics meet their level (>=, <=); prices must pass it (>, <)
    inclusive: npt.NDArray[np.bool_]
    crossing: npt.NDArray[np.bool_]
    level: npt.NDArray[np.float64]
    hysteresis_pct: npt.NDArray[np.float64]
    once: npt.NDArray[np.bool_]
    cooldown_ms: npt.NDArray[np.int64]
    expires: npt.NDArray[np.int64]
    state: npt.NDArray[np.int8]
    last_fired: npt.NDArray[np.int64]

    @classmethod
    def empty(cls, n: int) -> Rules:
        """``n`` armed threshold rules pointing up at level 0, never fired, never expiring."""
        return cls(
            direction=np.full(n, UP, dtype=np.int8),
            inclusive=np.zeros(n, dtype=np.bool_),
            crossing=np.zeros(n, dtype=np.bool_),
            level=np.zeros(n),
            hysteresis_pct=np.zeros(n),
            once=np.zeros(n, dtype=np.bool_),
            cooldown_ms=np.zeros(n, dtype=np.int64),
            expires=np.full(n, NO_EXPIRY, dtype=np.int64),
            state=np.full(n, ARMED, dtype=np.int8),
            last_fired=np.full(n, NEVER, dtype=np.int64),
        )


def initial_state(crossing: bool) -> int:
    """The state a new rule starts in: crossing rules first wait for the near side."""
    return WAITING if crossing else ARMED


def _beyond(rules: Rules, value: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Whether each value meets its rule's condition: beyond the level (at it, for inclusive
    rules); the magnitude at least the level for EITHER."""
    up = np.where(rules.inclusive, value >= rules.level, value > rules.level)
    down = np.where(rules.inclusive, value <= rules.level, value < rules.level)
    either = np.abs(value) >= rules.level
    return np.where(rules.direction == UP, up, np.where(rules.direction == DOWN, down, either))


def _cleared(rules: Rules, value: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Whether each value has cleared its rule's level by the hysteresis (the rule re-arms)."""
    margin = np.abs(rules.level) * rules.hysteresis_pct / 100
    up = value < rules.level - margin
    down = value > rules.level + margin
    either = np.abs(value) < np.abs(rules.level) - margin
    return np.where(rules.direction == UP, up, np.where(rules.direction == DOWN, down, either))


def _near_side(rules: Rules, value: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Whether a crossing rule's value is on the side it must cross from (at or below the level
    for crossing up, at or above for crossing down)."""
    return np.where(rules.direction == UP, value <= rules.level, value >= rules.level)


def step(
    rules: Rules, ts: npt.NDArray[np.int64], value: npt.NDArray[np.float64], present: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Advance every rule with ``present`` by one observation (its ``ts`` and ``value``); return
    which rules fired on it. Rules without an observation here are left as they are."""
    live = present & (rules.state != DONE) & (rules.state != EXPIRED) & ~np.isnan(value)
    expired = live & (ts >= rules.expires)
    rules.state[expired] = EXPIRED
    live &= ~expired

    waiting = live & (rules.state == WAITING)
    rules.state[waiting & _near_side(rules, value)] = ARMED

    fired_before = live & (rules.state == FIRED)
    rules.state[fired_before & _cleared(rules, value)] = ARMED

    cooled = ts - rules.last_fired >= rules.cooldown_ms
    fires: npt.NDArray[np.bool_] = live & ~waiting & (rules.state == ARMED) & _beyond(rules, value) & cooled
    rules.state[fires] = np.where(rules.once[fires], DONE, FIRED)
    rules.last_fired[fires] = ts[fires]
    return fires


@dataclass(frozen=True, slots=True)
class Firing:
    """Rule ``rule`` (its index) fired on the observation at ``ts`` with ``value``."""

    rule: int
    ts: int
    value: float


def evaluate(rules: Rules, ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> list[Firing]:
    """Step every rule through its new observations, oldest first: ``ts`` and ``values`` are
    (rules × steps) arrays, row i the observations of rule i padded at the end with NaN values.
    Vectorised across rules: the loop runs over the steps, as many as the longest row (one a cycle
    for a minute of ticks, more when catching up). Returns the firings in time order."""
    found: list[Firing] = []
    for column in range(values.shape[1] if values.ndim == 2 else 0):
        value = values[:, column]
        fired = step(rules, ts[:, column], value, ~np.isnan(value))
        found += [Firing(int(i), int(ts[i, column]), float(value[i])) for i in np.flatnonzero(fired)]
    found.sort(key=lambda f: (f.ts, f.rule))
    return found
