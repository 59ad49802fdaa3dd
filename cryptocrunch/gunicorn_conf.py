"""gunicorn settings for cryptocrunch (``gunicorn -c python:cryptocrunch.gunicorn_conf``): a
worker that exits is marked dead for prometheus_client's multiprocess mode, so its live gauges
stop counting (its counters stay in the sums); with ``CRYPTOCRUNCH_LOG_FORMAT=json`` in the
environment, gunicorn's lines (its own and the access log) and the app's are JSON objects, one a
line on stderr, as ``flask worker``'s."""

from __future__ import annotations

import json
import os
from typing import Any


def _log_format() -> str:
    value = os.environ.get("CRYPTOCRUNCH_LOG_FORMAT", "text")
    try:
        return str(json.loads(value))  # CRYPTOCRUNCH_* values are JSON, as for the app
    except ValueError:
        return value


if _log_format() == "json":
    _stderr = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "cryptocrunch.logs.json_formatter"}},
        "handlers": {"stderr": _stderr},
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            name: {"level": "INFO", "handlers": ["stderr"], "propagate": False}
            for name in ("gunicorn.error", "gunicorn.access")
        },
    }


def child_exit(_server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
