"""``flask export`` and the EXPORTS that run after each collect cycle: build the frame, write it."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from .. import events
from ..clock import TIMEFRAMES
from ..config import ConfigError, add_check, apply_config_file, config_file_option
from ..db import db
from ..errors import NotFound
from ..insights.params import METRICS, WINDOWS
from .files import ExportError, upload, write_local
from .specs import (
    FORMATS,
    KINDS,
    ORDERS,
    ExportOptions,
    S3Location,
    check_settings,
    destination,
    file_name,
    parse_spec,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Exported:
    """Where an export went and how many rows it holds."""

    what: str
    location: str
    rows: int
    skipped: tuple[str, ...] = ()

    def describe(self) -> str:
        """What to print: the row count and where it went, then the markets left out."""
        line = f"{self.what}: {self.rows} row{'s' if self.rows != 1 else ''} written to {self.location}"
        if self.skipped:
            line += f" (skipped {len(self.skipped)} market{'s' if len(self.skipped) != 1 else ''})"
        return "\n".join([line, *(f"  skipped {why}" for why in self.skipped)])


def export(
    session: Session,
    options: ExportOptions,
    config: Mapping[str, Any],
    instance_path: str,
    now: datetime | None = None,
) -> Exported:
    """Build the rows ``options`` ask for and write them where ``options.to`` says; ExportError
    (nothing written) when the filters match nothing or the write fails."""
    from .frames import BUILDERS  # pandas and the insights load with the first export, not at start-up

    try:
        frame = BUILDERS[options.what](session, options)
        target = destination(options.to, instance_path)
    except (NotFound, ValueError) as error:
        raise ExportError(f"{options.what}: {error}") from None
    name = file_name(options, now or datetime.now(UTC))
    if isinstance(target, S3Location):
        location = upload(frame, options.format, target, name, config)
    else:
        location = str(write_local(frame, options.format, target, name))
    return Exported(options.what, location, len(frame), tuple(frame.attrs.get("skipped", ())))


def run_configured(session: Session, config: Mapping[str, Any], instance_path: str) -> Iterator[str]:
    """Run the exports listed in EXPORTS (``flask collect`` after each cycle, the worker's
    ``exports`` job), yielding a line for each; a failing export is reported (``ERROR`` in its
    line) and the next one still runs."""
    for spec in config["EXPORTS"]:
        options = parse_spec(spec)  # checked when the settings were validated
        try:
            yield f"{'export':<12} {export(session, options, config, instance_path).describe()}"
        except ExportError as error:
            yield f"{'export':<12} {options.what} ERROR {error}"
        except Exception as error:  # a bug in one export must not stop the collector
            log.exception("export %s failed", options.what)
            yield f"{'export':<12} {options.what} ERROR unexpected {type(error).__name__}: {error}"
        finally:
            session.rollback()  # end the read transaction, a failed one too


def _help() -> str:
    kinds = "\n".join(f"  {name:<9} {kind.help}" for name, kind in KINDS.items())
    return (
        "Export WHAT as CSV or Parquet to a folder (default: the instance folder's exports/) or to "
        "s3://bucket/prefix, with the API's filters.\n\n"
        f"\b\nWHAT:\n{kinds}\n\n"
        "The file is named <what>[-<exchange>][-<BASE-QUOTE>]-<UTC time>.<format>."
    )


@click.command("export", help=_help())
@click.argument("what")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="csv (default) or parquet.")
@click.option("--to", help="A folder, or s3://bucket/prefix (default: the instance folder's exports/).")
@click.option("--exchange", help="Only this exchange (ccxt id, or coingecko).")
@click.option("--pair", help="Only this pair, BTC-USD or BTC/USD.")
@click.option("--quote", help="Only pairs quoted in this currency, e.g. USD.")
@click.option("--window", type=click.Choice(list(WINDOWS)), help="1h, 24h (default), 7d, 30d or all.")
@click.option("--start", help="ISO 8601 with a time zone, or epoch ms (instead of --window).")
@click.option("--end", help="ISO 8601 with a time zone, or epoch ms, inclusive (instead of --window).")
@click.option("--timeframe", type=click.Choice(list(TIMEFRAMES)), help="candles: 1m, 5m, 1h (default), 1d.")
@click.option("--fast", type=int, help="candles: fast EMA span in candles (default 12).")
@click.option("--slow", type=int, help="candles: slow EMA span in candles (default 26).")
@click.option("--metric", type=click.Choice(METRICS), help="rankings: default volatility.")
@click.option("--order", type=click.Choice(ORDERS), help="rankings: desc (default) or asc (losers first).")
@click.option("--limit", type=int, help="rankings: how many rows (default 20, at most 1000).")
@config_file_option
@with_appcontext
def export_command(what: str, fmt: str | None, config_file: str | None, **filters: Any) -> None:
    app = current_app
    try:
        apply_config_file(app, config_file)
        options = parse_spec({"what": what, "format": fmt, **filters})
    except (ConfigError, ValueError) as error:
        raise click.UsageError(str(error)) from None
    try:
        done = export(db.session(), options, app.config, app.instance_path)
    except ExportError as error:
        raise click.ClickException(str(error)) from None
    click.echo(done.describe())


def _after_collect(
    app: Flask, session: Session, every: float | None = None, exports: bool = True
) -> Iterator[str]:
    return run_configured(session, app.config, app.instance_path) if exports else iter(())


def init_app(app: Flask) -> None:
    """Register ``flask export``, and run EXPORTS after each ``flask collect`` cycle (not the
    worker's: its ``exports`` job runs them)."""
    add_check(app, check_settings)
    app.cli.add_command(export_command)
    events.collect_finished.connect(_after_collect, sender=app)
