"""Resolvers for direct messages and notifications (sdl/messages.graphql)."""

from __future__ import annotations

from ariadne import MutationType, QueryType

from api.auth import parse_id
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import page as _page
from api.graphql.resolvers.common import validate as _validate
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
from api.inputs.notifications import ReadIn as NotificationsReadIn
from models.messaging import attachments, groups, messages, notifications, requests

query, mutation = QueryType(), MutationType()


@query.field("conversations")
async def resolve_conversations(_, info, cursor=None, limit=20):
    p = _page(cursor, limit)
    page = await messages.conversations(info.context["svc"], _user(info), cursor=p.cursor, limit=p.limit)
    last = [c["last_message"] for c in page["items"] if c["last_message"]]
    await attachments.decorate(info.context["svc"], last, base_url=info.context["base_url"])
    return page


@query.field("messages")
async def resolve_messages(_, info, conversation_id, cursor=None, limit=20):
    p = _page(cursor, limit)
    page = await messages.history(
        info.context["svc"], _user(info), parse_id(conversation_id, "conversationId"), cursor=p.cursor, limit=p.limit
    )
    await attachments.decorate(info.context["svc"], page["items"], base_url=info.context["base_url"])
    return page


@query.field("messageSettings")
async def resolve_message_settings(_, info):
    return await messages.get_settings(info.context["svc"], _user(info))


@query.field("notifications")
async def resolve_notifications(_, info, cursor=None, limit=20):
    p = _page(cursor, limit)
    return await notifications.list_for(info.context["svc"], _user(info), cursor=p.cursor, limit=p.limit)


@query.field("unreadNotificationCount")
async def resolve_unread(_, info):
    return await notifications.unread_count(info.context["svc"], _user(info))


@mutation.field("sendMessage")
async def resolve_send(_, info, input):
    data = _validate(MessageIn, input)
    return await requests.send(  # delivered, or held in a message request (`request: true`)
        info.context["svc"],
        sender_id=_user(info),
        to_user_id=data.to_user_id,
        body=data.body,
        client_id=data.client_id or info.context["idempotency_key"],
        reply_to_id=data.reply_to_id,
        image_id=data.image_id,
        video_id=data.video_id,
        base_url=info.context["base_url"],
    )


@mutation.field("markConversationRead")
async def resolve_mark_read(_, info, conversation_id, up_to_message_id):
    data = _validate(ReadIn, {"up_to_message_id": up_to_message_id})
    return await messages.mark_read(
        info.context["svc"], _user(info), parse_id(conversation_id, "conversationId"), data.up_to_message_id
    )


@mutation.field("setMessageSettings")
async def resolve_set_settings(_, info, dm_policy):
    data = _validate(SettingsIn, {"dm_policy": dm_policy})
    return await messages.set_settings(info.context["svc"], _user(info), dm_policy=data.dm_policy)


@mutation.field("markNotificationsRead")
async def resolve_mark_notifications(_, info, ids=None, all=False):
    data = _validate(NotificationsReadIn, {"ids": ids, "all": all})
    return await notifications.mark_read(info.context["svc"], _user(info), ids=data.ids, everything=data.all)


# ------------------------------------------------------------------ groups, unsend, mute


@query.field("group")
async def resolve_group(_, info, conversation_id):
    return await groups.get(info.context["svc"], _user(info), parse_id(conversation_id, "conversationId"))


@query.field("conversationMembers")
async def resolve_members(_, info, conversation_id):
    out = await groups.members(info.context["svc"], _user(info), parse_id(conversation_id, "conversationId"))
    return out["items"]


@mutation.field("sendConversationMessage")
async def resolve_send_to_conversation(_, info, input):
    input = dict(input)
    cid = parse_id(input.pop("conversation_id", None), "conversationId")
    data = _validate(ConversationMessageIn, input)
    return await requests.send_to_conversation(
        info.context["svc"],
        sender_id=_user(info),
        conversation_id=cid,
        body=data.body,
        client_id=data.client_id or info.context["idempotency_key"],
        reply_to_id=data.reply_to_id,
        image_id=data.image_id,
        video_id=data.video_id,
        base_url=info.context["base_url"],
    )


@mutation.field("unsendMessage")
async def resolve_unsend(_, info, message_id):
    return await messages.unsend(info.context["svc"], _user(info), parse_id(message_id, "messageId"))


@mutation.field("muteConversation")
async def resolve_mute(_, info, conversation_id, muted_until=None):
    data = _validate(MuteIn, {"muted_until": muted_until})
    return await messages.mute(
        info.context["svc"], _user(info), parse_id(conversation_id, "conversationId"), data.muted_until
    )


@mutation.field("createGroup")
async def resolve_create_group(_, info, input):
    data = _validate(GroupIn, input)
    return await groups.create(
        info.context["svc"],
        _user(info),
        name=data.name,
        member_ids=data.member_ids,
        avatar_image_id=data.avatar_image_id,
    )


@mutation.field("updateGroup")
async def resolve_update_group(_, info, conversation_id, input):
    data = _validate(GroupUpdateIn, input)
    return await groups.update(
        info.context["svc"],
        _user(info),
        parse_id(conversation_id, "conversationId"),
        name=data.name,
        avatar_image_id=data.avatar_image_id,
        clear_avatar=data.clear_avatar,
    )


@mutation.field("addGroupMembers")
async def resolve_add_members(_, info, conversation_id, user_ids):
    data = _validate(MembersIn, {"user_ids": user_ids})
    return await groups.add(
        info.context["svc"], _user(info), parse_id(conversation_id, "conversationId"), data.user_ids
    )


@mutation.field("removeGroupMember")
async def resolve_remove_member(_, info, conversation_id, user_id):
    await groups.remove(
        info.context["svc"],
        _user(info),
        parse_id(conversation_id, "conversationId"),
        parse_id(user_id, "userId"),
    )
    return True


@mutation.field("leaveGroup")
async def resolve_leave(_, info, conversation_id):
    await groups.leave(info.context["svc"], _user(info), parse_id(conversation_id, "conversationId"))
    return True


@mutation.field("setGroupMemberRole")
async def resolve_set_role(_, info, conversation_id, user_id, role):
    data = _validate(RoleIn, {"role": role})
    return await groups.set_role(
        info.context["svc"],
        _user(info),
        parse_id(conversation_id, "conversationId"),
        parse_id(user_id, "userId"),
        data.role,
    )


@mutation.field("createGroupInvite")
async def resolve_invite(_, info, conversation_id):
    return await groups.invite(info.context["svc"], _user(info), parse_id(conversation_id, "conversationId"))


@mutation.field("joinGroup")
async def resolve_join(_, info, invite_code):
    data = _validate(JoinIn, {"invite_code": invite_code})
    return await groups.join(info.context["svc"], _user(info), data.invite_code)


bindables = [query, mutation]
