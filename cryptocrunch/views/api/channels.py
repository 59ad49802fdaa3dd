"""A signed-in user's notification channels (Apprise URLs): list, add, delete, send a test. Another
user's channel id answers 404, like one that does not exist."""

from __future__ import annotations

from flask import current_app
from flask_login import current_user, login_required
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from ...db import db
from .common import child

bp = child("channels", "Your notification channels (sign in or send an API token)", cached=False)


class ChannelIn(Schema):
    name = fields.Str(required=True, validate=validate.Length(1, 100))
    url = fields.Str(
        required=True,
        validate=validate.Length(1, 2000),
        load_only=True,
        metadata={"description": "an Apprise URL: mailto://, json://, sns://, ntfy://, tgram://, ..."},
    )
    system_events = fields.Bool(
        load_default=False, metadata={"description": "admins: also send the operator's system events here"}
    )


class ChannelOut(Schema):
    id = fields.Int(required=True)
    name = fields.Str(required=True)
    url = fields.Str(
        required=True, attribute="url_display", metadata={"description": "Apprise's privacy form"}
    )
    created = fields.Int(required=True)
    system_events = fields.Bool(required=True)


class TestOut(Schema):
    delivered = fields.Bool(required=True)
    error = fields.Str(allow_none=True, required=True)


def _own(channel_id):
    from ...storage import channels

    channel = channels.user_channel(db.session(), current_user.id, channel_id)
    if channel is None:
        abort(404, message=f"no channel {channel_id}")
    return channel


@bp.get("/channels")
@login_required
@bp.response(200, ChannelOut(many=True))
def list_channels():
    """Your channels, oldest first."""
    from ...storage import channels

    return channels.user_channels(db.session(), current_user.id)


@bp.post("/channels")
@login_required
@bp.arguments(ChannelIn)
@bp.response(201, ChannelOut)
def add_channel(data):
    """Add a channel; its URL is checked by Apprise and stored encrypted."""
    from ...alerts.channels import ChannelError, create

    try:
        channel = create(
            db.session(),
            current_app.config["SECRET_KEY"],
            current_user.user,
            data["name"],
            data["url"],
            data["system_events"],
        )
    except ChannelError as error:
        abort(422, message=str(error))
    db.session.commit()
    return channel


@bp.delete("/channels/<int:channel_id>")
@login_required
@bp.response(204)
def delete_channel(channel_id):
    """Delete one of your channels."""
    from ...storage import channels

    channels.delete_channel(db.session(), _own(channel_id))
    db.session.commit()


@bp.post("/channels/<int:channel_id>/test")
@login_required
@bp.response(200, TestOut)
def test_channel(channel_id):
    """Send a message labelled as a test to the channel; answers whether it was delivered."""
    from ...alerts.channels import send_test

    delivery = send_test(current_app.config["SECRET_KEY"], _own(channel_id))
    return {"delivered": delivery.delivered, "error": delivery.error}
