"""Presence (models/messaging/presence.py, docs/messages.md): is a user online, and who may know."""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import document_response, tag, validate_request

from api.auth import auth_required, parse_id, svc
from api.inputs.presence import SettingsIn
from api.outputs import errors
from api.outputs.social import PresenceOut, PresenceSettingsOut
from models.messaging import presence

bp = Blueprint("presence", __name__)
tag_presence = tag(["presence"])


@bp.get("/users/me/presence-settings")
@tag_presence
@auth_required
@document_response(PresenceSettingsOut)
async def get_settings():
    """{"visible": bool}: whether others who may see your presence do."""
    return await presence.get_settings(svc(), g.user_id)


@bp.put("/users/me/presence-settings")
@tag_presence
@auth_required
@validate_request(SettingsIn)
@document_response(PresenceSettingsOut)
async def put_settings(data: SettingsIn):
    return await presence.set_visible(svc(), g.user_id, data.visible)


@bp.get("/users/<user_id>/presence")
@tag_presence
@auth_required
@document_response(PresenceOut)
@errors(404)
async def get_presence(user_id: str):
    """{"user_id", "online", "last_seen_at"}. 404 `presence_not_visible` unless it is you, someone
    the user follows or has a conversation with (and no block, and the user does not hide it)."""
    target = g.user_id if user_id == "me" else parse_id(user_id, "user_id")
    return await presence.presence(svc(), g.user_id, target)
