"""In-process events (blinker signals, as Flask's own): what one part announces and another acts
on, without either importing the other. A receiver gets the app as sender."""

from __future__ import annotations

from blinker import Namespace

_events = Namespace()

#: Sent after each collect cycle (``flask collect``, the worker's collect job), with ``session``,
#: ``every`` (the interval, None for one cycle) and ``exports`` (false in the worker, whose
#: ``exports`` job runs them); each receiver returns the lines to print (EXPORTS run here when
#: ``exports``; system events are recorded and delivered).
collect_finished = _events.signal("collect-finished")

#: Sent by the long-running commands, ``flask collect --every`` and ``flask worker`` (sender: the
#: app), when a stop signal ended them, after their last cycle or job; receivers finish their
#: background work within a bound and return lines to print (the delivery thread stops and the
#: outbox is flushed).
stopping = _events.signal("stopping")

#: Sent by ``flask worker`` (sender: the app) after each job run is recorded, with ``session`` and
#: ``job`` (its name): system events are recorded and delivered.
job_finished = _events.signal("job-finished")

#: Sent by ``storage.ticks.store_ticks`` (sender: the session) after new ticks and their rollups
#: are written, with ``spans`` ({market_id: (first ts, last ts)}), in the writer's transaction:
#: alert rules are evaluated here.
ticks_stored = _events.signal("ticks-stored")
