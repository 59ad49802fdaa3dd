"""The account forms (Flask-WTF: each carries its CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length, Regexp

from .passwords import MIN_LENGTH

#: Enough to catch a typo: something@domain.tld, no spaces (nothing is mailed to this address yet).
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_EMAIL = [InputRequired(), Length(max=254)]
_PASSWORD = [InputRequired(), Length(max=1024)]
_NEW_PASSWORD = [
    InputRequired(),
    Length(min=MIN_LENGTH, max=1024, message=f"Use {MIN_LENGTH} to 1024 characters."),
]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=_EMAIL, render_kw={"autocomplete": "username"})
    password = PasswordField("Password", validators=_PASSWORD, render_kw={"autocomplete": "current-password"})


class SignupForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[*_EMAIL, Regexp(EMAIL, message="Enter an email address.")],
        render_kw={"autocomplete": "email"},
    )
    password = PasswordField("Password", validators=_NEW_PASSWORD, render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(
        "Repeat the password",
        validators=[EqualTo("password", message="The two passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


class PasswordForm(FlaskForm):
    current = PasswordField(
        "Current password", validators=_PASSWORD, render_kw={"autocomplete": "current-password"}
    )
    password = PasswordField(
        "New password", validators=_NEW_PASSWORD, render_kw={"autocomplete": "new-password"}
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[EqualTo("password", message="The two passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[InputRequired(), Length(max=100)])


class ChannelForm(FlaskForm):
    name = StringField("Channel name", validators=[InputRequired(), Length(max=100)])
    url = StringField(
        "Apprise URL",
        validators=[InputRequired(), Length(max=2000)],
        description="mailto://, json://, sns://, ntfy://, tgram://, slack://, discord://, ...",
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    system_events = BooleanField("Also send the operator's system events here (admins)")


class DeleteForm(FlaskForm):
    password = PasswordField("Password", validators=_PASSWORD, render_kw={"autocomplete": "current-password"})
    sure = BooleanField(
        "Delete my account and everything it owns",
        validators=[InputRequired(message="Tick the box to confirm.")],
    )


class ActionForm(FlaskForm):
    """A button that changes something and carries nothing but its CSRF token (log out, revoke)."""
