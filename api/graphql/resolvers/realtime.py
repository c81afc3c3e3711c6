"""Subscription fields (sdl/realtime.graphql): each maps the realtime core's pushes, exactly as
/ws sends them, to a field. The socket's `Feed` (api/graphql/live.py) is in the context; the
topic is authorized when the operation starts, so a refusal is the operation's `error`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from ariadne import SubscriptionType, UnionType

from api.auth import parse_id
from models.content import reactions
from models.core.errors import DomainError
from models.messaging import messages

if TYPE_CHECKING:
    from api.graphql.live import Pushes

subscription = SubscriptionType()
conversation_event = UnionType("ConversationEvent")

_EVENT_TYPES = {
    "message.new": "MessageNew",
    "typing": "Typing",
    "message.read": "MessageRead",
    "message.unsent": "MessageUnsent",
    "conversation.member": "MemberChanged",
    "conversation.updated": "ConversationUpdated",
}


@conversation_event.type_resolver
def resolve_event_type(push, *_):
    return _EVENT_TYPES[push["type"]]


async def _mapped(pushes: Pushes, fn: Callable[[dict], dict | None]) -> AsyncIterator[dict]:
    """Each push through `fn` (None: skip it); closing this closes `pushes` (its topic released)."""
    try:
        async for push in pushes:
            value = fn(push)
            if value is not None:
                yield value
    finally:
        await pushes.aclose()


@subscription.source("postCounters")
async def post_counters_source(_, info, post_id):
    pid = str(parse_id(post_id, "postId"))
    pushes = await info.context["feed"].listen(
        f"post:{pid}", lambda p: p.get("type") == "counter.updated" and p.get("post_id") == pid
    )
    # the reactions agent pushes reaction counters only, the engagement agent views/shares/comments
    # too: merged into the full counters read once here
    try:
        current = await reactions.counters_of(info.context["svc"], parse_id(pid))
    except BaseException:
        await pushes.aclose()
        raise

    def merge(push: dict) -> dict:
        current.update(push.get("counters") or {})
        return dict(current)

    return _mapped(pushes, merge)


@subscription.source("notifications")
async def notifications_source(_, info):
    pushes = await info.context["feed"].listen(None, lambda p: p.get("type") == "notification")
    return _mapped(pushes, lambda p: p["notification"])


def _conversation_of(push: dict) -> str | None:
    if push.get("type") == "message.new":
        return (push.get("message") or {}).get("conversation_id")
    if push.get("type") in ("typing", "message.read", "message.unsent", "conversation.member"):
        return push.get("conversation_id")
    if push.get("type") == "conversation.updated":
        return (push.get("conversation") or {}).get("id")
    return None


async def _until_gone(pushes: Pushes, me: str) -> AsyncIterator[dict]:
    """A conversation's pushes; after the one saying you left or were removed, the operation ends
    with error not_a_member (no further push of the room reaches you anyway)."""
    try:
        async for push in pushes:
            yield push
            if push.get("type") == "conversation.member" and me in (push.get("user_ids") or ()):
                if push.get("change") in ("left", "removed"):
                    raise DomainError("you are no longer a member of this conversation", code="not_a_member")
    finally:
        await pushes.aclose()


@subscription.source("conversationEvents")
async def conversation_events_source(_, info, conversation_id):
    cid = parse_id(conversation_id, "conversationId")
    await messages.ensure_member(info.context["svc"], info.context["user_id"], cid)
    pushes = await info.context["feed"].listen(None, lambda p: _conversation_of(p) == str(cid))
    return _until_gone(pushes, str(info.context["user_id"]))


@subscription.source("presence")
async def presence_source(_, info, user_id):
    uid = str(parse_id(user_id, "userId"))
    pushes = await info.context["feed"].listen(
        f"presence:{uid}", lambda p: p.get("type") == "presence" and p.get("user_id") == uid
    )
    last: list[dict] = []

    def changed(push: dict) -> dict | None:
        # a conversation partner hears the same announcement on their own channel too
        if last and last[0] == push:
            return None
        last[:] = [push]
        return push

    return _mapped(pushes, changed)


def _event(push, *_, **__):
    return push


for _name in ("postCounters", "notifications", "conversationEvents", "presence"):
    subscription.set_field(_name, _event)

bindables = [subscription, conversation_event]
