"""``flask retention``: delete what RETENTION says is old enough (the original design's "rollups
with a TTL"): raw ticks after 90 days, book tops, rejections and runs after 30, by default;
rollups are kept, so statistics over windows that reach before the cut still answer from them.
Deletes go in bounded batches, each its own transaction (RETENTION_BATCH rows), so the API keeps
answering while it runs. The worker's ``retention`` job runs it daily."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .clock import HOUR, now_ms, parse_duration, utc_text
from .config import ConfigError, add_check
from .db import db


def cuts(config: Mapping[str, Any], now: int) -> dict[str, int]:
    """Each table with a retention and the time before which its rows go (epoch ms; ticks on
    whole hours, so no hourly rollup is ever rebuilt from part of its ticks)."""
    found = {}
    for name, keep in config["RETENTION"].items():
        if keep is None:
            continue
        cut = now - parse_duration(keep)
        found[name] = cut // HOUR * HOUR if name == "tick" else cut
    return found


def check_settings(config: Mapping[str, Any]) -> None:
    """Check RETENTION and RETENTION_BATCH."""
    from .storage.prune import TABLES

    retention = config["RETENTION"]
    if not isinstance(retention, Mapping):
        raise ConfigError(
            'RETENTION must be a JSON object like {"tick": "90d", "book_top": "30d", "candle": null}'
        )
    for name, keep in retention.items():
        if name not in TABLES:
            raise ConfigError(f"RETENTION: no table {name!r} to prune; the tables are {', '.join(TABLES)}")
        if keep is not None:
            try:
                parse_duration(keep)
            except ValueError as error:
                raise ConfigError(f"RETENTION[{name!r}]: {error}, or null to keep forever") from None
    batch = config["RETENTION_BATCH"]
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"RETENTION_BATCH must be a whole number of at least 1, got {batch!r}")


def run_retention(app: Flask, dry_run: bool = False) -> tuple[int, list[str]]:
    """Prune every table RETENTION names; (rows deleted, a line per table)."""
    from .storage import prune

    session = db.session()
    total, lines = 0, []
    for name, cut in cuts(app.config, now_ms()).items():
        if dry_run:
            first = prune.oldest(session, name)
            due = first is not None and first < cut
            lines.append(f"{name:<12} would delete rows before {utc_text(cut)} UTC{'' if due else ' (none)'}")
            continue
        started = time.monotonic()
        gone = prune.prune(session, name, cut, int(app.config["RETENTION_BATCH"]))
        seconds = time.monotonic() - started
        total += gone
        rate = f", {gone / max(seconds, 1e-9):,.0f} rows/s" if gone else ""
        lines.append(f"{name:<12} deleted {gone:,} rows before {utc_text(cut)} UTC in {seconds:.2f} s{rate}")
    session.rollback()
    return total, lines


@click.command("retention")
@click.option("--dry-run", is_flag=True, help="Say what would go, delete nothing.")
@with_appcontext
def retention_command(dry_run: bool) -> None:
    """Delete the rows older than RETENTION says, in small batches."""
    _, lines = run_retention(current_app, dry_run)
    for line in lines or ["retention: RETENTION names no table"]:
        click.echo(line)


def init_app(app: Flask) -> None:
    """The RETENTION checks and `flask retention`."""
    add_check(app, check_settings)
    app.cli.add_command(retention_command)
