"""``flask users``: accounts from the command line, for operators and scripts."""

from __future__ import annotations

import re
import sys

import click
from flask.cli import AppGroup

from ..clock import now_ms, utc_text
from ..db import db
from ..models import User
from ..storage import users as accounts
from .accounts import normalize_email
from .forms import EMAIL
from .keys import digest, new_token
from .passwords import hash_password, weak

users = AppGroup("users", help="Create, list, disable and delete accounts; issue API tokens.")


def user_by_email(email: str) -> User:
    """The account of ``email`` (any case); a ClickException naming it when there is none."""
    user = accounts.find_user(db.session(), normalize_email(email))
    if user is None:
        raise click.ClickException(f"no account {normalize_email(email)!r} (flask users list shows them)")
    return user


@users.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Make the account an admin.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (else ask).")
def create_command(email: str, admin: bool, password_stdin: bool) -> None:
    """Create the account EMAIL."""
    email = normalize_email(email)
    if not re.fullmatch(EMAIL, email):
        raise click.UsageError(f"{email!r} is not an email address")
    session = db.session()
    if accounts.find_user(session, email) is not None:
        raise click.ClickException(f"{email} already has an account")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = weak(password)
    if problem:
        raise click.UsageError(f"password refused: {problem}")
    accounts.add_user(session, email, hash_password(password), is_admin=admin, now=now_ms())
    session.commit()
    click.echo(f"created {email}{' (admin)' if admin else ''}")


@users.command("list")
def list_command() -> None:
    """List the accounts."""
    found = accounts.list_users(db.session())
    if not found:
        click.echo("no accounts yet: flask users create EMAIL, or sign up at /signup")
        return
    row = "{:<40} {:<19}  {:<5} {:<8} {:>6}"
    click.echo(row.format("email", "created (UTC)", "admin", "status", "tokens"))
    for user in found:
        live = sum(1 for t in user.tokens if t.revoked is None)
        status = "disabled" if user.disabled else "active"
        click.echo(
            row.format(user.email, utc_text(user.created), "yes" if user.is_admin else "", status, live)
        )


@users.command("disable")
@click.argument("email")
def disable_command(email: str) -> None:
    """Disable the account EMAIL: it can no longer sign in, its sessions and tokens stop working."""
    user = user_by_email(email)
    user.disabled = True
    accounts.end_other_sessions(db.session(), user.id, None)
    db.session.commit()
    click.echo(f"disabled {user.email}")


@users.command("delete")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask first.")
def delete_command(email: str, yes: bool) -> None:
    """Delete the account EMAIL and everything it owns."""
    user = user_by_email(email)
    if not yes:
        click.confirm(f"Delete {user.email} and everything it owns?", abort=True)
    accounts.delete_user(db.session(), user)
    db.session.commit()
    click.echo(f"deleted {user.email}")


@users.command("token")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
def token_command(email: str, name: str) -> None:
    """Issue a new API token for EMAIL and print it (once: only its hash is kept)."""
    user = user_by_email(email)
    if user.disabled:
        raise click.ClickException(f"{user.email} is disabled")
    secret = new_token()
    accounts.add_token(db.session(), user.id, name[:100], digest(secret), now_ms())
    db.session.commit()
    click.echo(secret)
