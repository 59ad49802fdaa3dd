"""``flask collect`` and ``flask runs``: thin commands over plain functions."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import click
import filelock
from flask import Blueprint, current_app

from .. import storage
from ..config import ConfigError, read_json_file, validate
from ..db import db
from .cycle import SourceReport, build_sources, collect_once
from .schedule import run_every, stop_on_signals

bp = Blueprint("collector", __name__, cli_group=None)


def _fmt_ms(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def summary_line(report: SourceReport) -> str:
    """One line per source per cycle."""
    if report.status == "cooldown":
        return f"{report.source:<12} on cooldown until {_fmt_ms(report.cooldown_until)} UTC, skipped"
    counts = (
        f"stored {report.stored}  duplicates {report.duplicates}  rejected {report.rejected}  "
        f"retries {report.retries}  {report.seconds:.2f} s"
    )
    if report.status == "error":
        return f"{report.source:<12} ERROR {report.error}  ({counts})"
    books = f"  books {report.books}" if report.books else ""
    return f"{report.source:<12} {counts}{books}"


def collect_lock(instance_path: str) -> filelock.BaseFileLock:
    """The lock that keeps two collectors off one instance (released by the OS if the holder dies)."""
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(str(Path(instance_path) / "collect.lock"), timeout=0)


@bp.cli.command("collect")
@click.option(
    "--every", type=click.FloatRange(min=0, min_open=True), help="Repeat every SECONDS until stopped."
)
@click.option("--exchange", "exchanges", multiple=True, help="Only this source (repeatable).")
@click.option("--pair", "pairs", multiple=True, help="Only this pair, BTC/USD or BTC-USD (repeatable).")
@click.option("--books", is_flag=True, help="Also store the order-book top of each market.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON file of settings (same keys as the environment).",
)
@click.option("-v", "--verbose", is_flag=True, help="Print each rejection and retry.")
def collect_command(
    every: float | None,
    exchanges: tuple[str, ...],
    pairs: tuple[str, ...],
    books: bool,
    config_file: str | None,
    verbose: bool,
) -> None:
    """Pull tickers from the configured exchanges and CoinGecko into the database."""
    app = current_app._get_current_object()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        if config_file:
            app.config.update(read_json_file(config_file))
        validate(app.config)
        sources = build_sources(app.config, Path(app.instance_path) / "markets", exchanges)
    except (ConfigError, ValueError) as error:
        raise click.UsageError(str(error)) from None

    def cycle() -> None:
        reports = collect_once(
            db.session, sources, pairs=pairs, books=books, cooldown=float(app.config["COOLDOWN"])
        )
        for report in reports:
            click.echo(summary_line(report))
            if verbose:
                for rejection in report.rejections:
                    click.echo(f"  rejected {rejection.pair}: {rejection.reason}")

    try:
        with collect_lock(app.instance_path), stop_on_signals() as stop:
            if every:
                cycles = run_every(every, cycle, stop)
                click.echo(f"stopped after {cycles} cycle{'s' if cycles != 1 else ''}")
            else:
                cycle()
    except filelock.Timeout as busy:
        raise click.ClickException(
            f"another 'flask collect' is running on this instance (lock {busy.lock_file});"
            " stop it first or wait for it to finish"
        ) from None


@bp.cli.command("runs")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="How many runs.")
@click.option("--source", help="Only this source.")
def runs_command(limit: int, source: str | None) -> None:
    """Print the recent collection runs, newest first."""
    runs = storage.recent_runs(db.session, limit=limit, source=source)
    if not runs:
        click.echo("no runs yet: run 'flask collect'")
        return
    row = "{:<12} {:<19}  {:<8} {:>6} {:>5} {:>4} {:>5}  {}"
    click.echo(row.format("source", "started (UTC)", "status", "stored", "dups", "rej", "retry", "error"))
    for run in runs:
        click.echo(
            row.format(
                run.source,
                _fmt_ms(run.started),
                run.status,
                run.stored,
                run.duplicates,
                run.rejected,
                run.retries,
                run.error or "",
            ).rstrip()
        )
