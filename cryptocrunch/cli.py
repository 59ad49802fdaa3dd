"""Commands that span layers: ``flask similar`` brings the listings up to date through
``collector.listings`` (ccxt), then prints what ``insights.similar`` makes of them, as the
similar-exchanges page does; ``flask alerts`` manages a user's rules with the API's checks. Like
``create_app``, a composition root: it may import any layer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from .auth.commands import user_by_email
from .clock import utc_text
from .config import ConfigError, check_app
from .db import db
from .errors import NotFound
from .insights.params import lookback_window

if TYPE_CHECKING:
    from .collector.listings import ListingReport


def _listing_line(report: ListingReport) -> str:
    """One line per exchange: where its listing came from, or why it could not be loaded."""
    if report.status == "refreshed":
        return f"{report.exchange:<12} {report.pairs} pairs, loaded now ({report.seconds:.2f} s)"
    stored = f"stored listing of {utc_text(report.refreshed)} UTC"
    if report.status == "stored":
        return f"{report.exchange:<12} {report.pairs} pairs, {stored}"
    kept = f"; using its {stored} ({report.pairs} pairs)" if report.refreshed is not None else "; left out"
    return f"{report.exchange:<12} ERROR {report.error}{kept}"


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _similar_lines(result: dict[str, Any], lookback: str) -> list[str]:
    """The table of one exchange: its most similar exchanges, shared markets' volume, outliers."""
    from .insights import similar

    name = result["exchange"]
    lines = [f"{name}: {result['pairs']} pairs listed"]
    if result["similar"]:
        lines.append(f"  {'most similar':<14} {'shared':>7} {'jaccard':>8} {'pairs':>7}")
        lines += [
            f"  {row['exchange']:<14} {row['shared']:>7} {row['jaccard']:>8.3f} {row['pairs']:>7}"
            for row in result["similar"]
        ]
    else:
        lines.append("  no other exchange lists any of its pairs")
    volumes = similar.shared_volumes(result)
    lines.append(f"  base volume of shared markets over {lookback} (24 h rolling, last value per hour)")
    if volumes:
        lines.append(
            f"  {'pair':<12} {'exchange':<12} {'hours':>5} {'first':>16} {'last':>16} {'change':>9} "
            f"{'slope/day':>14}"
        )
        for v in volumes:
            pair, exchange = v["pair"], v["exchange"]
            change = _num(v["base_pct_change"], "+.2f") + ("%" if v["base_pct_change"] is not None else "")
            lines.append(
                f"  {pair:<12} {exchange:<12} {v['hours']:>5} {_num(v['base_first'], ',.4f'):>16} "
                f"{_num(v['base_last'], ',.4f'):>16} {change:>9} {_num(v['base_slope_per_day'], ',.4f'):>14}"
            )
    else:
        lines.append(f"  no ticks of shared markets in the last {lookback}: run flask collect")
    flagged = [o for o in result["outliers"] if o["flagged"]]
    lines.append(f"  outliers: latest price more than {result['outlier_pct']:g}% from the pair's median")
    for o in flagged:
        note = "  (2 exchanges: either may be the other coin)" if o["ambiguous"] else ""
        lines.append(
            f"  {o['pair']:<12} {o['exchange']:<12} {o['price']:>16,.6g} median {o['median']:>14,.6g} "
            f"{o['deviation_pct']:>+9.2f}%{note}"
        )
    if not flagged:
        lines.append(f"  none among its {len(result['outliers'])} markets also quoted on other exchanges")
    return lines


@click.command("similar")
@with_appcontext
@click.option("--exchange", "exchanges", multiple=True, help="Only this exchange's table (repeatable).")
@click.option(
    "--top", type=click.IntRange(min=1), help="Similar exchanges shown per exchange [default: SIMILAR_TOP]."
)
@click.option("--lookback", help="Volume window: 24h, 7d, 2w, 90m [default: SIMILAR_LOOKBACK].")
@click.option("--refresh", is_flag=True, help="Load every exchange's markets from the exchange now.")
def similar_command(exchanges: tuple[str, ...], top: int | None, lookback: str | None, refresh: bool) -> None:
    """Exchanges that list the same pairs: overlap, shared markets' volume trend, outlier prices."""
    from .collector.cycle import build_sources
    from .collector.listings import refresh_listings
    from .insights import similar
    from .sources.exchange import CcxtSource

    app = current_app
    config = app.config
    lookback = lookback or config["SIMILAR_LOOKBACK"]
    try:
        check_app(app)
        window = lookback_window(lookback)
        built = build_sources(config, Path(app.instance_path) / "markets")
    except (ConfigError, ValueError) as error:
        raise click.UsageError(str(error)) from None
    sources = {name: source for name, (source, _) in built.items() if isinstance(source, CcxtSource)}
    unknown = [e for e in exchanges if e not in sources]
    if unknown:
        raise click.UsageError(
            f"{unknown[0]!r} is not a configured exchange; configured: {', '.join(sources)}"
        )
    reports = refresh_listings(
        db.session(), sources, max_age=float(config["MARKETS_CACHE_TTL"]), force=refresh
    )
    click.echo("listings")
    for report in reports:
        click.echo(f"  {_listing_line(report)}")
    for name in exchanges or sources:
        click.echo()
        try:
            result = similar.similar_exchanges(
                db.session(),
                name,
                window=window,
                top=top or int(config["SIMILAR_TOP"]),
                outlier_pct=float(config["SIMILAR_OUTLIER_PCT"]),
                exchanges=list(sources),
            )
        except NotFound:
            click.echo(f"{name}: no listing stored; its markets could not be loaded (see above)")
            continue
        for line in _similar_lines(result, lookback):
            click.echo(line)


def init_app(app: Flask) -> None:
    """Register the terminal views."""
    app.cli.add_command(similar_command)
    app.cli.add_command(alerts_group)


alerts_group = AppGroup("alerts", help="Add, list, pause, resume and delete a user's alert rules.")


@alerts_group.command("add")
@click.option("--user", "email", required=True, help="The account the rule belongs to.")
@click.option("--pair", required=True, help="BTC/USDT or BTC-USDT.")
@click.option("--exchange", help="Omit for the cross-exchange median.")
@click.option("--kind", required=True, help="price, change, move, volatility, spread or signal.")
@click.option(
    "--op",
    help="price: above, below, crosses_up, crosses_down; change, move: either, up, down; "
    "signal: golden, death.",
)
@click.option("--value", type=float, help="The level (a price, a %, a volatility, bps); none for signal.")
@click.option("--window", help="change, move, volatility: like 1h or 24h.")
@click.option("--timeframe", help="signal: the candles' timeframe (1m, 5m, 1h, 1d).")
@click.option("--fast", type=int, help="signal: the fast EMA span [default: 12].")
@click.option("--slow", type=int, help="signal: the slow EMA span [default: 26].")
@click.option("--repeat", type=click.Choice(["once", "rearm"]), default="rearm", show_default=True)
@click.option(
    "--hysteresis", "hysteresis_pct", type=float, default=0.0, help="% the value must clear to re-arm."
)
@click.option("--cooldown", help="Least time between two firings, like 15m.")
@click.option("--expires", help="ISO 8601 with a time zone, or epoch ms.")
@click.option(
    "--channel", "channels", type=int, multiple=True, help="A channel id of the user's (repeatable)."
)
@click.option("--note", help="Free text sent with the alert.")
def alerts_add_command(email: str, **options: Any) -> None:
    """Add an alert rule for a user (the same checks as POST /api/v1/alerts)."""
    from .alerts.rules import RuleError, add
    from .clock import now_ms

    user = user_by_email(email)
    session = db.session()
    try:
        rule = add(session, user.id, options, now_ms())
    except RuleError as error:
        raise click.UsageError(str(error)) from None
    session.commit()
    click.echo(f"added rule {rule.id} for {user.email}")


@alerts_group.command("list")
@click.option("--user", "email", required=True)
def alerts_list_command(email: str) -> None:
    """List a user's rules."""
    from .analysis.alerts import STATES
    from .storage import alerts

    found = alerts.user_rules(db.session(), user_by_email(email).id)
    if not found:
        click.echo("no alert rules yet: flask alerts add, or POST /api/v1/alerts")
        return
    for r in found:
        where = r.exchange or "median"
        state = "paused" if r.paused else STATES[r.state]
        click.echo(f"{r.id:>5}  {r.pair:<12} {where:<10} {r.kind} {r.op} {r.value:g}  {state}")


def _set_paused(email: str, rule_id: int, paused: bool | None) -> None:
    from .clock import now_ms
    from .storage import alerts

    rule = alerts.user_rule(db.session(), user_by_email(email).id, rule_id)
    if rule is None:
        raise click.ClickException(f"{email} has no alert rule {rule_id}")
    if paused is None:
        db.session.delete(rule)
        verb = "deleted"
    else:
        alerts.set_paused(rule, paused, now_ms())
        verb = "paused" if paused else "resumed"
    db.session.commit()
    click.echo(f"{verb} rule {rule_id}")


@alerts_group.command("pause")
@click.option("--user", "email", required=True)
@click.argument("rule_id", type=int)
def alerts_pause_command(email: str, rule_id: int) -> None:
    """Pause a rule."""
    _set_paused(email, rule_id, True)


@alerts_group.command("resume")
@click.option("--user", "email", required=True)
@click.argument("rule_id", type=int)
def alerts_resume_command(email: str, rule_id: int) -> None:
    """Resume a paused rule from now on."""
    _set_paused(email, rule_id, False)


@alerts_group.command("delete")
@click.option("--user", "email", required=True)
@click.argument("rule_id", type=int)
def alerts_delete_command(email: str, rule_id: int) -> None:
    """Delete a rule and its events."""
    _set_paused(email, rule_id, None)
