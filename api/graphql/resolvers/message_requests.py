"""Resolvers for message requests and message attachments (sdl/message_requests.graphql); the
`sendMessage` mutation (resolvers/messages.py) goes through models/messaging/requests.send."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ariadne import MutationType, ObjectType, QueryType, SubscriptionType, UnionType

from api.auth import parse_id
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import page as _page
from api.graphql.resolvers.images import sizes
from models.messaging import requests

if TYPE_CHECKING:
    from api.graphql.live import Pushes

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


subscription = SubscriptionType()
request_event = UnionType("MessageRequestEvent")
_EVENT_TYPES = {
    "message_request.new": "MessageRequestNew",
    "message_request.sent": "MessageRequestSent",
    "message_request.accepted": "MessageRequestAccepted",
    "message_request.declined": "MessageRequestDeclined",
}


@request_event.type_resolver
def resolve_event_type(push, *_):
    return _EVENT_TYPES[push["type"]]


@subscription.source("messageRequestEvents")
async def request_events_source(_, info):
    pushes = await info.context["feed"].listen(None, lambda p: p.get("type") in _EVENT_TYPES)
    return _events(pushes)


async def _events(pushes: Pushes) -> AsyncIterator[dict]:
    """Closing this closes `pushes` (as resolvers/realtime.py does)."""
    try:
        async for push in pushes:
            yield push
    finally:
        await pushes.aclose()


@subscription.field("messageRequestEvents")
def resolve_request_event(push, *_, **__):
    return push


bindables = [query, mutation, message_type, attachment_type, subscription, request_event]
