"""Resolvers for message requests and message attachments (sdl/message_requests.graphql); the
`sendMessage` mutation (resolvers/messages.py) goes through models/messaging/requests.send."""

from __future__ import annotations

from ariadne import MutationType, ObjectType, QueryType

from api.auth import parse_id
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import page as _page
from api.graphql.resolvers.images import sizes
from models.messaging import requests

query, mutation = QueryType(), MutationType()
message_type, attachment_type = ObjectType("Message"), ObjectType("MessageAttachment")


@query.field("messageRequests")
async def resolve_inbox(_, info, cursor=None, limit=20):
    p = _page(cursor, limit)
    return await requests.inbox(
        info.context["svc"], _user(info), cursor=p.cursor, limit=p.limit, base_url=info.context["base_url"]
    )


@query.field("sentMessageRequests")
async def resolve_sent(_, info, cursor=None, limit=20):
    p = _page(cursor, limit)
    return await requests.sent(
        info.context["svc"], _user(info), cursor=p.cursor, limit=p.limit, base_url=info.context["base_url"]
    )


@mutation.field("acceptMessageRequest")
async def resolve_accept(_, info, request_id):
    return await requests.accept(info.context["svc"], _user(info), parse_id(request_id, "requestId"))


@mutation.field("declineMessageRequest")
async def resolve_decline(_, info, request_id):
    return await requests.decline(info.context["svc"], _user(info), parse_id(request_id, "requestId"))


@message_type.field("request")
def resolve_request(message, info):
    return bool(message.get("request"))


@message_type.field("pending")
def resolve_pending(message, info):
    return bool(message.get("pending"))


@attachment_type.field("urls")
def resolve_attachment_urls(attachment, info):
    return sizes(attachment.get("urls"), attachment.get("jpeg_urls"))


bindables = [query, mutation, message_type, attachment_type]
