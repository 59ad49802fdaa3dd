"""Log lines of the long-running commands (``flask collect``, ``flask worker``): one line per event
on stderr, as text or, with LOG_FORMAT=json, as one JSON object per line (python-json-logger:
time, level, logger, message, and any extra fields). Under gunicorn, its own lines (start-up,
workers, the access log) and the app's follow CRYPTOCRUNCH_LOG_FORMAT from the environment
(``gunicorn_conf``). Rotation is left to the platform (journald, logrotate)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .config import ConfigError

TEXT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def json_formatter() -> logging.Formatter:
    """One JSON object per record: time, level, logger, message and any extra fields."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(TEXT, rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})


def configure(config: Mapping[str, Any], level: int = logging.INFO) -> None:
    """Send every log record to stderr in LOG_FORMAT, from ``level`` up."""
    handler = logging.StreamHandler()
    if config["LOG_FORMAT"] == "json":
        handler.setFormatter(json_formatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def check_settings(config: Mapping[str, Any]) -> None:
    """Check LOG_FORMAT."""
    if config["LOG_FORMAT"] not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT must be text or json, got {config['LOG_FORMAT']!r}")
