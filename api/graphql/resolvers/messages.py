"""Resolvers for direct messages and notifications (sdl/messages.graphql)."""

from __future__ import annotations

from ariadne import MutationType, QueryType

from api.auth import parse_id
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import page as _page
from api.graphql.resolvers.common import validate as _validate
from api.inputs.messages import MessageIn, ReadIn, SettingsIn
from api.inputs.notifications import ReadIn as NotificationsReadIn
from models.messaging import attachments, messages, notifications, requests

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


bindables = [query, mutation]
