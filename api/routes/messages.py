"""Direct messages (models/messaging/messages.py, docs/messages.md): full paths under /interactions, which
the "interactions" blueprint shares."""

from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_querystring, validate_request

from api.auth import auth_required, parse_id, svc
from api.inputs import ShortPageIn
from api.inputs.messages import MessageIn, ReadIn, SettingsIn
from api.outputs import errors
from api.outputs.message_requests import SentOut
from api.outputs.messaging import ConversationPage, DmSettingsOut, MessagePage, ReadReceiptOut
from models.messaging import attachments, messages, requests

bp = Blueprint("messages", __name__)
tag_messages = tag(["messages"])


@bp.post("/interactions/messages")
@tag_messages
@auth_required
@validate_request(MessageIn)
@document_response(SentOut, 201)
@document_response(SentOut, 202)
@errors(403, 404, 409, 429)
async def send(data: MessageIn):
    """Send a direct message (201), or, when the recipient's dm_policy does not admit you, hold it
    in a message request (202, `"request": true`). Idempotent by `client_id` (or the
    Idempotency-Key header). One `image_id` or `video_id` of yours may ride along (then `body` may
    be empty). 403 `blocked`; 404 `user_not_found` / `image_not_found` / `video_not_found`; 409
    `image_in_review` / `media_not_ready` / `message_request_full`; 429 `message_request_limit`."""
    out = await requests.send(
        svc(),
        sender_id=g.user_id,
        to_user_id=data.to_user_id,
        body=data.body,
        client_id=data.client_id or request.headers.get("Idempotency-Key"),
        image_id=data.image_id,
        video_id=data.video_id,
        base_url=request.host_url,
    )
    return out, 202 if out["request"] else 201


@bp.get("/interactions/messages/settings")
@tag_messages
@auth_required
@document_response(DmSettingsOut)
async def get_settings():
    """Who may message you: {"dm_policy": "everyone" | "followers" | "circles"}."""
    return await messages.get_settings(svc(), g.user_id)


@bp.put("/interactions/messages/settings")
@tag_messages
@auth_required
@validate_request(SettingsIn)
@document_response(DmSettingsOut)
async def put_settings(data: SettingsIn):
    return await messages.set_settings(svc(), g.user_id, dm_policy=data.dm_policy)


@bp.post("/interactions/messages/<conversation_id>/read")
@tag_messages
@auth_required
@validate_request(ReadIn)
@document_response(ReadReceiptOut)
@errors(404)
async def read(conversation_id: str, data: ReadIn):
    """Read receipt up to a message of the conversation; the sender hears `message.read`."""
    return await messages.mark_read(
        svc(), g.user_id, parse_id(conversation_id, "conversation_id"), data.up_to_message_id
    )


@bp.get("/interactions/conversations")
@tag_messages
@auth_required
@validate_querystring(ShortPageIn)
@document_response(ConversationPage)
async def conversations(query_args: ShortPageIn):
    """Your conversations, newest activity first, with unread counts."""
    page = await messages.conversations(svc(), g.user_id, cursor=query_args.cursor, limit=query_args.limit)
    last = [c["last_message"] for c in page["items"] if c["last_message"]]
    await attachments.decorate(svc(), last, base_url=request.host_url)
    return page


@bp.get("/interactions/conversations/<conversation_id>/messages")
@tag_messages
@auth_required
@validate_querystring(ShortPageIn)
@document_response(MessagePage)
@errors(404)
async def history(conversation_id: str, query_args: ShortPageIn):
    """A conversation's messages, newest first."""
    page = await messages.history(
        svc(), g.user_id, parse_id(conversation_id, "conversation_id"), cursor=query_args.cursor, limit=query_args.limit
    )
    await attachments.decorate(svc(), page["items"], base_url=request.host_url)
    return page
