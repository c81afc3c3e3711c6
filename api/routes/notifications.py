"""Notifications (models/messaging/notifications.py)."""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import document_response, tag, validate_querystring, validate_request

from api.auth import auth_required, svc
from api.inputs import ShortPageIn
from api.inputs.notifications import ReadIn
from api.outputs.messaging import MarkedReadOut, NotificationPage, UnreadOut
from models.messaging import notifications

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
tag_notifications = tag(["notifications"])


@bp.get("")
@tag_notifications
@auth_required
@validate_querystring(ShortPageIn)
@document_response(NotificationPage)
async def list_(query_args: ShortPageIn):
    """Newest activity first, aggregated ("alice and 12 others reacted to your post"), with
    `unread_count`."""
    return await notifications.list_for(svc(), g.user_id, cursor=query_args.cursor, limit=query_args.limit)


@bp.get("/unread-count")
@tag_notifications
@auth_required
@document_response(UnreadOut)
async def unread():
    return {"unread_count": await notifications.unread_count(svc(), g.user_id)}


@bp.post("/read")
@tag_notifications
@auth_required
@validate_request(ReadIn)
@document_response(MarkedReadOut)
async def read(data: ReadIn):
    """Mark {"ids": [...]} or {"all": true} read: {"updated", "unread_count"}."""
    return await notifications.mark_read(svc(), g.user_id, ids=data.ids, everything=data.all)
