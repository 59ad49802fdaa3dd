"""The commands that move data in (``flask collect``, ``backfill``, ``import-candles``) and report on
it (``flask runs``, ``report``, ``markets``): thin commands over the plain functions of this package's
modules.

Each command imports its machinery when it runs: ccxt alone takes seconds to import, and
``flask --help`` or ``flask runs`` should not wait for it.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import Blueprint, Flask, current_app
from flask.globals import app_ctx

from .. import events
from ..clock import TIMEFRAMES, now_ms, utc_text
from ..config import ConfigError, apply_config_file, config_file_option
from ..db import db
from ..storage import runs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from click._termui_impl import ProgressBar
    from filelock import BaseFileLock
    from sqlalchemy.orm import Session

    from ..sources.base import Source
    from ..sources.coingecko import CoinGeckoSource
    from .backfill import OnPage
    from .cycle import SourceReport
    from .markets import MarketRule

bp = Blueprint("collector", __name__, cli_group=None)


def summary_line(report: SourceReport) -> str:
    """One line per source per cycle."""
    if report.status == "cooldown":
        return f"{report.source:<12} on cooldown until {utc_text(report.cooldown_until)} UTC, skipped"
    counts = (
        f"stored {report.stored}  duplicates {report.duplicates}  rejected {report.rejected}  "
        f"retries {report.retries}  {report.seconds:.2f} s"
    )
    flag = f"  FLAGGED {report.flag}" if report.flag else ""
    if report.status == "error":
        return f"{report.source:<12} ERROR {report.error}  ({counts}){flag}"
    books = f"  books {report.books}" if report.books else ""
    return f"{report.source:<12} {counts}{books}{flag}"


def collect_lock(instance_path: str) -> BaseFileLock:
    """The lock that keeps two collectors off one instance (released by the OS if the holder dies)."""
    import filelock

    Path(instance_path).mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(str(Path(instance_path) / "collect.lock"), timeout=0)


def refresh_snapshots(session: Session) -> list[str]:
    """Bring the ranking snapshots of the standard windows up to the minute and the ticks stored
    (after a collect cycle, and the worker's snapshots job at each minute), committed; a failure
    is logged and leaves the rankings to be computed live."""
    from ..clock import WINDOWS
    from ..storage import snapshots

    try:
        done = snapshots.refresh(session, WINDOWS, now_ms())
        session.commit()
    except Exception:
        session.rollback()
        logging.getLogger(__name__).exception("refreshing the ranking snapshots failed")
        return []
    return done


def run_cycle(
    app: Flask,
    sources: dict[str, tuple[Source, MarketRule]],
    caps_source: CoinGeckoSource,
    *,
    pairs: Sequence[str] = (),
    books: bool = False,
    caps: bool = False,
    every: float | None = None,
    exports: bool = True,
    verbose: bool = False,
) -> tuple[int, list[str]]:
    """One collect cycle as ``flask collect`` runs it (``flask worker``'s collect job too): fetch
    and store every source, a market-cap snapshot when ``caps`` or CAPS_EVERY_COLLECT, then what
    listens to ``collect_finished`` (EXPORTS unless ``exports`` is false — the worker runs them as
    a job of their own —, system events, delivery); the ticks stored and the lines to print."""
    from .cycle import collect_once, snapshot_caps

    reports = collect_once(
        db.session(),
        sources,
        pairs=pairs,
        books=books,
        cooldown=float(app.config["COOLDOWN"]),
        keep_rejections=app.config["REJECTIONS_KEEP"],
        rejections_alert=app.config["REJECTIONS_ALERT"],
    )
    from ..metrics import count_runs

    count_runs(reports)
    refresh_snapshots(db.session())
    lines = []
    for report in reports:
        lines.append(summary_line(report))
        if verbose:
            lines += [f"  rejected {r.pair or r.endpoint}: {r.reason}" for r in report.rejections]
    if caps or app.config["CAPS_EVERY_COLLECT"]:
        top, keep = int(app.config["CAPS_TOP"]), app.config["REJECTIONS_KEEP"]
        lines.append(snapshot_caps(db.session(), caps_source, top, keep))
    for _receiver, extra in events.collect_finished.send(
        app, session=db.session(), every=every, exports=exports
    ):
        lines += extra
    return sum(r.stored for r in reports), lines


@bp.cli.command("collect")
@click.option(
    "--every", type=click.FloatRange(min=0, min_open=True), help="Repeat every SECONDS until stopped."
)
@click.option("--exchange", "exchanges", multiple=True, help="Only this source (repeatable).")
@click.option("--pair", "pairs", multiple=True, help="Only this pair, BTC/USD or BTC-USD (repeatable).")
@click.option("--books", is_flag=True, help="Also store the order-book top of each market.")
@click.option("--caps", is_flag=True, help="Also snapshot CoinGecko's top CAPS_TOP market caps.")
@config_file_option
@click.option("-v", "--verbose", is_flag=True, help="Print each rejection and retry.")
def collect_command(
    every: float | None,
    exchanges: tuple[str, ...],
    pairs: tuple[str, ...],
    books: bool,
    caps: bool,
    config_file: str | None,
    verbose: bool,
) -> None:
    """Pull tickers from the configured exchanges and CoinGecko into the database."""
    import filelock

    from .cycle import build_sources, coingecko_source
    from .schedule import run_every, stop_on_signals

    app = app_ctx.app
    from ..logs import configure

    configure(app.config, logging.INFO if verbose else logging.WARNING)
    try:
        apply_config_file(app, config_file)
        sources = build_sources(app.config, Path(app.instance_path) / "markets", exchanges)
        caps_source = coingecko_source(app.config)
    except (ConfigError, ValueError) as error:
        raise click.UsageError(str(error)) from None

    def cycle() -> None:
        _, lines = run_cycle(
            app, sources, caps_source, pairs=pairs, books=books, caps=caps, every=every, verbose=verbose
        )
        for line in lines:
            click.echo(line)

    try:
        with collect_lock(app.instance_path), stop_on_signals() as stop:
            if every:
                cycles = run_every(every, cycle, stop)
                for _receiver, lines in events.stopping.send(app):
                    for line in lines:
                        click.echo(line)
                click.echo(f"stopped after {cycles} cycle{'s' if cycles != 1 else ''}")
            else:
                cycle()
    except filelock.Timeout as busy:
        raise click.ClickException(
            f"another 'flask collect' is running on this instance (lock {busy.lock_file});"
            " stop it first or wait for it to finish"
        ) from None


@bp.cli.command("markets")
@click.option("--exchange", "exchanges", multiple=True, help="Only this exchange (repeatable).")
@click.option("--all", "every", is_flag=True, help="Print every pair, not only the first ones.")
@click.option("--refresh", is_flag=True, help="Load markets and volumes from the exchanges now.")
@config_file_option
def markets_command(exchanges: tuple[str, ...], every: bool, refresh: bool, config_file: str | None) -> None:
    """Print what MARKETS resolves to on each exchange: how many markets, by which rule, which ones."""
    from ..sources.exchange import CcxtSource
    from .cycle import build_sources
    from .markets import Resolved, describe_lines, resolve_all

    app = app_ctx.app
    try:
        apply_config_file(app, config_file)
        built = build_sources(app.config, Path(app.instance_path) / "markets", exchanges)
    except (ConfigError, ValueError) as error:
        raise click.UsageError(str(error)) from None
    sources = {name: pair for name, pair in built.items() if isinstance(pair[0], CcxtSource)}
    results = resolve_all(sources, reload=refresh)
    for name, (_, rule) in sources.items():
        for line in describe_lines(name, rule, results[name], every=every):
            click.echo(line)
    failed = [name for name, result in results.items() if not isinstance(result, Resolved)]
    if failed:
        raise click.ClickException(f"could not resolve the markets of {', '.join(failed)} (see above)")


@bp.cli.command("backfill")
@click.option("--timeframe", type=click.Choice(list(TIMEFRAMES)), default="1h", show_default=True)
@click.option(
    "--since", "since_text", default="30d", show_default=True, help="30d, 12h, 2w, or a date (UTC)."
)
@click.option("--exchange", "exchanges", multiple=True, help="Only this exchange (repeatable).")
@click.option("--pair", "pairs", multiple=True, help="Only this pair, BTC/USD or BTC-USD (repeatable).")
@config_file_option
def backfill_command(
    timeframe: str,
    since_text: str,
    exchanges: tuple[str, ...],
    pairs: tuple[str, ...],
    config_file: str | None,
) -> None:
    """Store historical OHLCV candles of the configured markets; a second run continues where it stopped."""
    from .backfill import backfill_configured, parse_since
    from .cycle import build_sources
    from .markets import normalize_pair

    app = app_ctx.app
    now = now_ms()
    try:
        apply_config_file(app, config_file)
        start = parse_since(since_text, now)
        sources = build_sources(app.config, Path(app.instance_path) / "markets", exchanges)
    except (ConfigError, ValueError) as error:
        raise click.UsageError(str(error)) from None
    totals = [0, 0, 0]

    @contextmanager
    def progress(name: str, pair: str) -> Iterator[OnPage]:
        stored = [0]
        started = time.monotonic()

        def rate(_item: object) -> str:
            return f"{stored[0]:,} candles, {stored[0] / max(time.monotonic() - started, 1e-9):,.0f}/s"

        with click.progressbar(
            length=max(now - start, 1), label=f"{name:<10} {pair:<10}", show_eta=True, item_show_func=rate
        ) as bar:

            def on_page(covered: int, new: int, bar: ProgressBar[object] = bar) -> None:
                stored[0] += new
                bar.update(covered - bar.pos)

            yield on_page

    wanted = {normalize_pair(p) for p in pairs}
    done = backfill_configured(
        db.session(),
        sources,
        timeframe,
        start,
        now,
        wanted=wanted,
        keep_rejections=app.config["REJECTIONS_KEEP"],
        progress=progress,
    )
    for name, pair, report in done:
        if isinstance(report, str):
            click.echo(f"{name:<10} {pair:<10} {report}")
            continue
        totals[0] += report.stored
        totals[1] += report.duplicates
        totals[2] += report.rejected
        resumed = f", resumed from {utc_text(report.resumed_from)} UTC" if report.resumed_from else ""
        outcome = f"ERROR {report.error}" if report.error else "done"
        click.echo(
            f"{name:<10} {pair:<10} {outcome}: stored {report.stored}  duplicates {report.duplicates}  "
            f"rejected {report.rejected}  retries {report.retries}  {report.seconds:.1f} s{resumed}"
        )
    click.echo(
        f"backfill {timeframe} since {utc_text(start)} UTC: stored {totals[0]}, duplicates {totals[1]}, "
        f"rejected {totals[2]}"
    )


@bp.cli.command("import-candles")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--exchange", help="The exchange the candles come from (files rarely say).")
@click.option("--pair", help="BASE/QUOTE, when the file does not name it.")
@click.option(
    "--timeframe", type=click.Choice(list(TIMEFRAMES)), help="When it cannot be told from the rows' spacing."
)
@click.option(
    "--skip-bad", is_flag=True, help="Store the good rows and report the rest (default: store nothing)."
)
def import_candles_command(
    file: Path, exchange: str | None, pair: str | None, timeframe: str | None, skip_bad: bool
) -> None:
    """Import a candle CSV (CryptoDataDownload, Binance klines, Kraken OHLCVT or generic OHLCV)."""
    from ..sources.csvfiles import CsvFormatError
    from .importer import ImportFailed, import_candles

    try:
        report = import_candles(
            db.session(),
            file,
            exchange=exchange,
            pair=pair,
            timeframe=timeframe,
            skip_bad=skip_bad,
            keep_rejections=current_app.config["REJECTIONS_KEEP"],
        )
    except ImportFailed as failed:
        report = failed.report
        shown = "\n".join(f"  {p}" for p in report.problems[:20])
        more = f"\n  ... and {len(report.problems) - 20} more" if len(report.problems) > 20 else ""
        raise click.ClickException(
            f"{file.name}: {len(report.problems)} bad or conflicting row(s); nothing was stored "
            f"(--skip-bad stores the rest):\n{shown}{more}"
        ) from None
    except (CsvFormatError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{file.name}: {error}") from None
    click.echo(
        f"{file.name}: {report.layout} layout, {report.exchange} {report.pair} {report.timeframe}: "
        f"{report.rows} rows, stored {report.stored}, already stored {report.already_stored}, "
        f"identical duplicates collapsed {report.collapsed}, skipped {report.skipped}"
    )
    if report.swapped_volumes:
        click.echo(f"  fixed {report.swapped_volumes} rows whose base and quote volumes were swapped")
    for problem in report.problems[:20]:
        click.echo(f"  skipped {problem}")
    if report.gaps:
        widest = max(report.gaps, key=lambda g: g[1] - g[0])
        click.echo(
            f"  {len(report.gaps)} gap(s); widest from {utc_text(widest[0])} to {utc_text(widest[1])} UTC"
        )


@bp.cli.command("runs")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="How many runs.")
@click.option("--source", help="Only this source.")
def runs_command(limit: int, source: str | None) -> None:
    """Print the recent collection runs, newest first."""
    recent = runs.recent_runs(db.session(), limit=limit, source=source)
    if not recent:
        click.echo("no runs yet: run 'flask collect'")
        return
    row = "{:<12} {:<19}  {:<8} {:>6} {:>5} {:>4} {:>5}  {}"
    click.echo(
        row.format("source", "started (UTC)", "status", "stored", "dups", "rej", "retry", "error / flag")
    )
    for run in recent:
        note = "; ".join(filter(None, [run.error, run.flag and f"FLAGGED {run.flag}"]))
        click.echo(
            row.format(
                run.source,
                utc_text(run.started),
                run.status,
                run.stored,
                run.duplicates,
                run.rejected,
                run.retries,
                note,
            ).rstrip()
        )


@bp.cli.command("report")
@click.option("--source", help="Only this source (an exchange, or coingecko).")
@click.option(
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many of the newest rejections to list.",
)
def report_command(source: str | None, limit: int) -> None:
    """Print the validation report: kept rejections by source and reason, then the newest ones."""
    groups = runs.rejection_summary(db.session(), source)
    if not groups:
        of = f" from {source}" if source else ""
        click.echo(f"no rejections kept{of}: everything collected, backfilled or imported passed validation")
        return
    keep = current_app.config["REJECTIONS_KEEP"]
    total, sources = sum(g["count"] for g in groups), len({g["source"] for g in groups})
    click.echo(
        f"{total} rejection{'s' if total != 1 else ''} kept from {sources} "
        f"source{'s' if sources != 1 else ''} (the newest {keep} of each: REJECTIONS_KEEP)"
    )
    row = "  {:>6}  {:<19}  {:<14} {:<12} {}"
    for name, grouped in itertools.groupby(groups, key=lambda g: g["source"]):
        rows = list(grouped)
        click.echo(f"\n{name}: {sum(g['count'] for g in rows)}")
        click.echo(row.format("count", "newest (UTC)", "endpoint", "e.g. pair", "reason"))
        for g in rows:
            click.echo(
                row.format(
                    g["count"], utc_text(g["last_ts"]), g["endpoint"], g["example_pair"] or "-", g["reason"]
                )
            )
    newest = runs.read_rejections(db.session(), source, limit) if limit else []
    if newest:
        click.echo(f"\nnewest {len(newest)}")
        row = "  {:<19}  {:<12} {:<14} {:<12} {}"
        click.echo(row.format("when (UTC)", "source", "endpoint", "pair", "reason"))
        for r in newest:
            click.echo(row.format(utc_text(r.ts), r.source, r.endpoint, r.pair or "-", r.reason))
