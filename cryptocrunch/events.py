"""In-process events (blinker signals, as Flask's own): what one part announces and another acts
on, without either importing the other. A receiver gets the app as sender."""

from __future__ import annotations

from blinker import Namespace

_events = Namespace()

#: Sent by ``flask collect`` after each cycle, with ``session``; each receiver returns the lines to
#: print (exports run here when EXPORTS lists any).
collect_finished = _events.signal("collect-finished")
