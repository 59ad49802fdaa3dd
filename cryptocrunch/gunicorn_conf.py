"""gunicorn settings for cryptocrunch (``gunicorn -c python:cryptocrunch.gunicorn_conf``): a
worker that exits is marked dead for prometheus_client's multiprocess mode, so its live gauges
stop counting (its counters stay in the sums)."""

from __future__ import annotations

import os
from typing import Any


def child_exit(_server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
