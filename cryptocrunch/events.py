"""In-process events (blinker signals, as Flask's own): what one part announces and another acts
on, without either importing the other. A receiver gets the app as sender."""

from __future__ import annotations

from blinker import Namespace

_events = Namespace()

#: Sent by ``flask collect`` after each cycle, with ``session`` and ``every`` (its --every, None for
#: one cycle); each receiver returns the lines to print (exports run here when EXPORTS lists any;
#: system events are recorded and delivered).
collect_finished = _events.signal("collect-finished")
