"""Resolvers for the spine and auth: me, sessions, posts, reactions."""

from __future__ import annotations

from uuid import UUID

from ariadne import EnumType, MutationType, ObjectType, QueryType
from quart import request

from api.auth import client, parse_id
from api.flows import posts as flows
from api.flows.auth import do_login, do_refresh, do_register
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import validate as _validate
from api.graphql.resolvers.common import viewer as _viewer
from api.inputs.auth import LoginIn, RefreshIn, RegisterIn
from api.inputs.content import PostIn
from models.accounts import sessions, users
from models.content import deleting, posts, reactions, visibility
from models.social import flows as social_flows

query, mutation = QueryType(), MutationType()
user_type, post_type = ObjectType("User"), ObjectType("Post")
reaction_type = EnumType("ReactionType", {t.upper(): t for t in ("like", "love", "laugh", "wow", "sad", "angry")})


@query.field("me")
async def resolve_me(_, info):
    user = await users.get_user(info.context["svc"], _user(info))
    return users.public(user) if user else None


@query.field("post")
async def resolve_post(_, info, id):
    return posts.public(await visibility.get_visible_post(info.context["svc"], _viewer(info), parse_id(id, "id")))


@user_type.field("profile")
async def resolve_profile(user, info):
    if "profile" in user:  # already read by the query that found the user (resolvers/users.py)
        return user["profile"]
    return await social_flows.view_profile(
        info.context["svc"], info.context["user_id"], UUID(user["id"]), base_url=request.host_url
    )


@mutation.field("register")
async def resolve_register(_, info, input):
    return await do_register(_validate(RegisterIn, input))


@mutation.field("login")
async def resolve_login(_, info, input):
    return await do_login(_validate(LoginIn, input))


@mutation.field("refresh")
async def resolve_refresh(_, info, refresh_token):
    return await do_refresh(_validate(RefreshIn, {"refresh_token": refresh_token}))


@mutation.field("logout")
async def resolve_logout(_, info):
    await sessions.revoke(
        info.context["svc"],
        user_id=_user(info),
        session_id=info.context["session_id"],
        client=client(),
        action="auth.logout",
    )
    return True


@mutation.field("revokeSession")
async def resolve_revoke_session(_, info, id):
    await sessions.revoke(info.context["svc"], user_id=_user(info), session_id=parse_id(id, "id"), client=client())
    return True


@query.field("sessions")
async def resolve_sessions(_, info):
    page = await sessions.list_sessions(info.context["svc"], _user(info), current=info.context["session_id"], limit=100)
    return page["items"]


@mutation.field("createPost")
async def resolve_create_post(_, info, input):
    data = _validate(PostIn, input)
    post = await flows.create_post(info.context["svc"], _user(info), data, info.context["idempotency_key"])
    return posts.public(post)


@mutation.field("deletePost")
async def resolve_delete_post(_, info, id):
    await deleting.delete_post(info.context["svc"], actor_id=_user(info), post_id=parse_id(id, "id"))
    return True


async def _react(info, post_id: str, type: str, add: bool):
    eid = await reactions.react(
        info.context["svc"],
        user_id=_user(info),
        post_id=parse_id(post_id, "postId"),
        type=type,
        add=add,
        idempotency_key=info.context["idempotency_key"],
    )
    return {"event_id": str(eid)}


@mutation.field("react")
async def resolve_react(_, info, post_id, type="like"):
    return await _react(info, post_id, type, True)


@mutation.field("unreact")
async def resolve_unreact(_, info, post_id, type="like"):
    return await _react(info, post_id, type, False)


bindables = [query, mutation, user_type, post_type, reaction_type]
