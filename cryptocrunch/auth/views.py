"""``/signup``, ``/login``, ``/logout`` and ``/account`` (password, API tokens, deleting the account).

Log-in and sign-up answer the same whether an email has an account or not, and take as long
(the password is hashed or checked either way), so the pages cannot be used to find accounts.
"""

from __future__ import annotations

from typing import cast

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter import RateLimitExceeded
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from wtforms import Field

from ..clock import now_ms
from ..db import db
from ..models import Channel
from ..storage import users
from .accounts import SignedIn, normalize_email, sign_in, sign_out
from .extensions import limiter
from .forms import ActionForm, ChannelForm, DeleteForm, LoginForm, PasswordForm, SignupForm, TokenForm
from .keys import digest, new_token
from .passwords import check_password, hash_password, needs_rehash

bp = Blueprint("auth", __name__)

WRONG = "Wrong email or password."


def _me() -> SignedIn:
    return cast(SignedIn, current_user._get_current_object())


def _failed(_response: object) -> bool:
    """Only failed log-ins count towards the limits."""
    return bool(g.get("login_failed"))


def _account_key() -> str:
    return "login:" + normalize_email(request.form.get("email", ""))


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site, never another host."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.dashboard")


def signup_open() -> bool:
    """Whether /signup takes a new account now (SIGNUP: open, first, closed)."""
    mode = current_app.config["SIGNUP"]
    return mode == "open" or (mode == "first" and users.count_users(db.session()) == 0)


@bp.errorhandler(RateLimitExceeded)
def too_many(error: RateLimitExceeded) -> ResponseReturnValue:
    form = LoginForm() if request.endpoint == "auth.login" else SignupForm()
    message = (
        f"Too many failed attempts for this account or from this address ({error.description}): "
        "wait a minute, then try again."
    )
    template = "login.html" if request.endpoint == "auth.login" else "signup.html"
    return render_template(template, form=form, error=message, closed=False), 429


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_ADDRESS"], methods=["POST"])
def signup() -> ResponseReturnValue:
    """A new account (the first one is the admin)."""
    if not signup_open():
        return render_template("signup.html", closed=True, form=None), 403
    form = SignupForm()
    if form.validate_on_submit():
        session = db.session()
        email = normalize_email(form.email.data or "")
        password_hash = hash_password(form.password.data or "")  # hashed even for a taken email: same time
        if users.find_user(session, email) is None:
            first = users.count_users(session) == 0
            users.add_user(session, email, password_hash, is_admin=first, now=now_ms())
            session.commit()
        flash("If that email had no account, it has one now: log in with it.")
        return redirect(url_for("auth.login"))
    return render_template("signup.html", form=form, closed=False), 400 if form.errors else 200


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_ADDRESS"], methods=["POST"], deduct_when=_failed)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_ACCOUNT"],
    key_func=_account_key,
    methods=["POST"],
    deduct_when=_failed,
    scope="login-account",
)
def login() -> ResponseReturnValue:
    """Sign in with email and password."""
    form = LoginForm()
    if form.validate_on_submit():
        session = db.session()
        user = users.find_user(session, normalize_email(form.email.data or ""))
        password = form.password.data or ""
        if not check_password(user.password_hash if user else None, password) or user is None:
            g.login_failed = True
            return render_template("login.html", form=form, error=WRONG)
        if user.disabled:
            g.login_failed = True
            return render_template("login.html", form=form, error="This account is disabled.")
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        sign_in(session, user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", form=form, error=None), 400 if form.errors else 200


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign this browser out (its session ends on the server too)."""
    if ActionForm().validate_on_submit() and current_user.is_authenticated:
        sign_out(db.session(), _me())
    return redirect(url_for("pages.dashboard"))


def _account_page(status: int = 200, new_token: str | None = None, **forms: object) -> ResponseReturnValue:
    from ..storage import channels

    me = _me()
    return (
        render_template(
            "account.html",
            me=me,
            tokens=users.user_tokens(db.session(), me.id),
            channels=channels.user_channels(db.session(), me.id),
            channel_form=forms.get("channel_form") or ChannelForm(formdata=None),
            new_token=new_token,
            password_form=forms.get("password_form") or PasswordForm(formdata=None),
            token_form=forms.get("token_form") or TokenForm(formdata=None),
            delete_form=forms.get("delete_form") or DeleteForm(formdata=None),
            action_form=ActionForm(),
        ),
        status,
    )


def _confirmed(form: FlaskForm, password: Field, me: SignedIn) -> bool:
    """Whether the form is valid and ``password`` is the account's password (else it says so)."""
    if not form.validate_on_submit():
        return False
    if not check_password(me.user.password_hash, password.data or ""):
        password.errors = ["That is not your current password."]
        return False
    return True


def _action(what: str) -> None:
    """Refuse a button's POST whose CSRF token is missing or stale."""
    if not ActionForm().validate_on_submit():
        abort(400, description=f"The {what} form expired: reload the page and try again.")


@bp.get("/account")
@login_required
def account() -> ResponseReturnValue:
    """The signed-in user's account: password, API tokens, deleting it."""
    return _account_page()


@bp.post("/account/password")
@login_required
def change_password() -> ResponseReturnValue:
    """A new password; every other session of the account ends."""
    form = PasswordForm()
    me = _me()
    if not _confirmed(form, form.current, me):
        return _account_page(400, password_form=form)
    session = db.session()
    me.user.password_hash = hash_password(form.password.data or "")
    keep = digest(me.session_key) if me.session_key else None
    ended = users.end_other_sessions(session, me.id, keep)
    session.commit()
    flash(f"Password changed; {ended} other session{'s' if ended != 1 else ''} signed out.")
    return redirect(url_for("auth.account"))


@bp.post("/account/tokens")
@login_required
def create_token() -> ResponseReturnValue:
    """A new API token, shown once."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _account_page(400, token_form=form)
    secret = new_token()
    session = db.session()
    users.add_token(session, _me().id, (form.name.data or "").strip(), digest(secret), now_ms())
    session.commit()
    return _account_page(201, new_token=secret)


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> ResponseReturnValue:
    """Revoke one of the user's tokens (another user's id is not found)."""
    _action("revoke")
    session = db.session()
    token = users.user_token(session, _me().id, token_id)
    if token is None:
        abort(404, description="No such token.")
    if token.revoked is None:
        token.revoked = now_ms()
        session.commit()
    flash(f"Token {token.name!r} revoked.")
    return redirect(url_for("auth.account"))


@bp.post("/account/delete")
@login_required
def delete_account() -> ResponseReturnValue:
    """Delete the account and everything it owns, after the password."""
    form = DeleteForm()
    me = _me()
    if not _confirmed(form, form.password, me):
        return _account_page(400, delete_form=form)
    session = db.session()
    users.delete_user(session, me.user)
    session.commit()
    logout_user()
    flash("Your account and everything it owned are deleted.")
    return redirect(url_for("pages.dashboard"))


@bp.post("/account/channels")
@login_required
def add_channel() -> ResponseReturnValue:
    """A new notification channel (an Apprise URL, stored encrypted)."""
    from ..alerts.channels import ChannelError, create

    form = ChannelForm()
    if not form.validate_on_submit():
        return _account_page(400, channel_form=form)
    session = db.session()
    try:
        create(
            session,
            current_app.config["SECRET_KEY"],
            _me().user,
            form.name.data or "",
            form.url.data or "",
            bool(form.system_events.data),
        )
    except ChannelError as error:
        field = form.system_events if str(error).startswith("system_events") else form.url
        field.errors = [str(error).split(": ", 1)[1]]
        return _account_page(400, channel_form=form)
    session.commit()
    flash(f"Channel {form.name.data!r} added: send it a test.")
    return redirect(url_for("auth.account"))


def _own_channel(channel_id: int) -> Channel:
    from ..storage import channels

    _action("channel")
    channel = channels.user_channel(db.session(), _me().id, channel_id)
    if channel is None:
        abort(404, description="No such channel.")
    return channel


@bp.post("/account/channels/<int:channel_id>/test")
@login_required
def test_channel(channel_id: int) -> ResponseReturnValue:
    """Send the test message to one of the user's channels and say whether it arrived."""
    from ..alerts.channels import send_test

    channel = _own_channel(channel_id)
    delivery = send_test(current_app.config["SECRET_KEY"], channel)
    if delivery.delivered:
        flash(f"Test sent to {channel.name!r}: delivered.")
    else:
        flash(f"Test to {channel.name!r} NOT delivered: {delivery.error}")
    return redirect(url_for("auth.account"))


@bp.post("/account/channels/<int:channel_id>/delete")
@login_required
def delete_channel(channel_id: int) -> ResponseReturnValue:
    """Delete one of the user's channels."""
    from ..storage import channels

    channel = _own_channel(channel_id)
    channels.delete_channel(db.session(), channel)
    db.session.commit()
    flash(f"Channel {channel.name!r} deleted.")
    return redirect(url_for("auth.account"))
