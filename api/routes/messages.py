"""Direct messages (models/messaging/messages.py, docs/messages.md): full paths under /interactions, which
the "interactions" blueprint shares."""

from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_querystring, validate_request

from api.auth import auth_required, parse_id, svc
from api.inputs import ShortPageIn
from api.inputs.messages import (
    ConversationMessageIn,
    GroupIn,
    GroupUpdateIn,
    JoinIn,
    MembersIn,
    MessageIn,
    MuteIn,
    ReadIn,
    RoleIn,
    SettingsIn,
)
from api.outputs import NoContent, errors
from api.outputs.message_requests import SentOut
from api.outputs.messaging import (
    ConversationPage,
    DmSettingsOut,
    GroupOut,
    InviteOut,
    MembersOut,
    MessageOut,
    MessagePage,
    MuteOut,
    ReadReceiptOut,
    RoleOut,
)
from models.messaging import attachments, groups, messages, requests

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
    `image_in_review` / `media_not_ready` / `message_request_full`; 400 `reply_not_in_conversation`;
    429 `message_request_limit`."""
    out = await requests.send(
        svc(),
        sender_id=g.user_id,
        to_user_id=data.to_user_id,
        body=data.body,
        client_id=data.client_id or request.headers.get("Idempotency-Key"),
        reply_to_id=data.reply_to_id,
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


def _cid(conversation_id: str):
    return parse_id(conversation_id, "conversation_id")


@bp.post("/interactions/conversations/<conversation_id>/messages")
@tag_messages
@auth_required
@validate_request(ConversationMessageIn)
@document_response(MessageOut, 201)
@errors(403, 404)
async def send_to_conversation(conversation_id: str, data: ConversationMessageIn):
    """A message to a conversation you are in (a group; a direct one follows the rules of
    POST /interactions/messages). Idempotent by `client_id` / Idempotency-Key. 404
    `conversation_not_found`, 403 `not_a_member` (you left or were removed), 400
    `reply_not_in_conversation`."""
    return await requests.send_to_conversation(
        svc(),
        sender_id=g.user_id,
        conversation_id=_cid(conversation_id),
        body=data.body,
        client_id=data.client_id or request.headers.get("Idempotency-Key"),
        reply_to_id=data.reply_to_id,
        image_id=data.image_id,
        video_id=data.video_id,
        base_url=request.host_url,
    ), 201


@bp.delete("/interactions/messages/<message_id>")
@tag_messages
@auth_required
@document_response(MessageOut)
@errors(403, 404, 409)
async def unsend(message_id: str):
    """Unsend your message for everyone, within 10 minutes: the body is removed, members hear
    `message.unsent`. 403 `not_your_message`, 409 `unsend_window_passed`, 404 `message_not_found`."""
    return await messages.unsend(svc(), g.user_id, parse_id(message_id, "message_id"))


@bp.put("/interactions/conversations/<conversation_id>/mute")
@tag_messages
@auth_required
@validate_request(MuteIn)
@document_response(MuteOut)
@errors(403, 404)
async def mute(conversation_id: str, data: MuteIn):
    """Mute a conversation until `muted_until` (null unmutes)."""
    return await messages.mute(svc(), g.user_id, _cid(conversation_id), data.muted_until)


@bp.post("/interactions/groups")
@tag_messages
@auth_required
@validate_request(GroupIn)
@document_response(GroupOut, 201)
@errors(403, 404, 409)
async def create_group(data: GroupIn):
    """A group chat of you (its owner) and 2-255 others. 400 `group_too_small`, 409
    `group_full`, 403 `blocked`, 404 `user_not_found` / `image_not_found`."""
    return await groups.create(
        svc(), g.user_id, name=data.name, member_ids=data.member_ids, avatar_image_id=data.avatar_image_id
    ), 201


@bp.get("/interactions/groups/<conversation_id>")
@tag_messages
@auth_required
@document_response(GroupOut)
@errors(403, 404)
async def get_group(conversation_id: str):
    return await groups.get(svc(), g.user_id, _cid(conversation_id))


@bp.patch("/interactions/groups/<conversation_id>")
@tag_messages
@auth_required
@validate_request(GroupUpdateIn)
@document_response(GroupOut)
@errors(403, 404)
async def update_group(conversation_id: str, data: GroupUpdateIn):
    """Rename, set or clear the avatar (admins: 403 `not_group_admin`)."""
    return await groups.update(
        svc(),
        g.user_id,
        _cid(conversation_id),
        name=data.name,
        avatar_image_id=data.avatar_image_id,
        clear_avatar=data.clear_avatar,
    )


@bp.get("/interactions/conversations/<conversation_id>/members")
@tag_messages
@auth_required
@document_response(MembersOut)
@errors(403, 404)
async def members(conversation_id: str):
    """Current members with their role, read receipt and presence (where visible)."""
    return await groups.members(svc(), g.user_id, _cid(conversation_id))


@bp.post("/interactions/groups/<conversation_id>/members")
@tag_messages
@auth_required
@validate_request(MembersIn)
@document_response(GroupOut)
@errors(403, 404, 409)
async def add_members(conversation_id: str, data: MembersIn):
    """Admins add members; 409 `group_full` past 256 (nobody is added)."""
    return await groups.add(svc(), g.user_id, _cid(conversation_id), data.user_ids)


@bp.delete("/interactions/groups/<conversation_id>/members/<user_id>")
@tag_messages
@auth_required
@document_response(NoContent, 204)
@errors(403, 404)
async def remove_member(conversation_id: str, user_id: str):
    """Remove a member (yourself: leave). 403 `not_group_admin` / `insufficient_role`, 404
    `member_not_found`."""
    await groups.remove(svc(), g.user_id, _cid(conversation_id), parse_id(user_id, "user_id"))
    return "", 204


@bp.post("/interactions/groups/<conversation_id>/leave")
@tag_messages
@auth_required
@document_response(NoContent, 204)
@errors(403, 404)
async def leave(conversation_id: str):
    """Leave a group; an owner who leaves hands it to the longest-standing admin, else member."""
    await groups.leave(svc(), g.user_id, _cid(conversation_id))
    return "", 204


@bp.put("/interactions/groups/<conversation_id>/members/<user_id>/role")
@tag_messages
@auth_required
@validate_request(RoleIn)
@document_response(RoleOut)
@errors(403, 404)
async def set_role(conversation_id: str, user_id: str, data: RoleIn):
    """The owner makes a member admin or member, or hands over ownership (403 `not_group_owner`)."""
    return await groups.set_role(svc(), g.user_id, _cid(conversation_id), parse_id(user_id, "user_id"), data.role)


@bp.post("/interactions/groups/<conversation_id>/invite")
@tag_messages
@auth_required
@document_response(InviteOut, 201)
@errors(403, 404)
async def invite(conversation_id: str):
    """A new invite code (admins); the previous one stops working."""
    return await groups.invite(svc(), g.user_id, _cid(conversation_id)), 201


@bp.post("/interactions/groups/join")
@tag_messages
@auth_required
@validate_request(JoinIn)
@document_response(GroupOut)
@errors(403, 404, 409)
async def join(data: JoinIn):
    """Join by invite code: 404 `invite_not_found`, 409 `group_full`."""
    return await groups.join(svc(), g.user_id, data.invite_code)
