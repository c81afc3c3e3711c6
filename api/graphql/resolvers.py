"""Ariadne resolvers: parse, authorize, call the domain function, shape. Nothing else."""
from __future__ import annotations

from pathlib import Path
from uuid import UUID

from ariadne import EnumType, MutationType, ObjectType, QueryType, make_executable_schema
from graphql import GraphQLError
from pydantic import ValidationError

from api.auth import client, limit_login, limit_register, parse_id
from api.errors import pydantic_details
from api.routes.auth import LoginIn, RefreshIn, RegisterIn
from api.routes.posts import PostIn
from models import posts, reactions, sessions, users
from models.errors import DomainError, Unauthorized

query, mutation = QueryType(), MutationType()
user_type, post_type = ObjectType("User"), ObjectType("Post")
reaction_type = EnumType("ReactionType", {t.upper(): t for t in ("like", "love", "laugh", "wow", "sad", "angry")})


def _user(info) -> UUID:
    uid = info.context["user_id"]
    if uid is None:
        err = info.context["auth_error"]
        raise Unauthorized(err.message, code=err.code) if err else Unauthorized("a bearer token is required")
    return uid


def _validate(model, data: dict):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DomainError("the input is not valid", code="validation_error",
                          details=pydantic_details(exc)) from None


@query.field("me")
async def resolve_me(_, info):
    user = await users.get_user(info.context["svc"], _user(info))
    return users.public(user) if user else None


@query.field("post")
async def resolve_post(_, info, id):
    _user(info)
    return posts.public(await posts.get_post(info.context["svc"], parse_id(id, "id")))


@user_type.field("profile")
async def resolve_profile(user, info):
    # Profiles (display name, avatar) arrive with the users issue; until then the username shows.
    return {"display_name": user["username"], "avatar": None}


@post_type.field("counters")
async def resolve_counters(post, info):
    svc = info.context["svc"]
    return await reactions.counters_of(svc, UUID(post["id"]))


@mutation.field("register")
async def resolve_register(_, info, input):
    data, svc = _validate(RegisterIn, input), info.context["svc"]
    await limit_register()
    user = await users.register(svc, email=data.email, password=data.password, username=data.username,
                                client=client())
    return await sessions.token_pair(svc, user, client(), method="register")


@mutation.field("login")
async def resolve_login(_, info, input):
    data, svc = _validate(LoginIn, input), info.context["svc"]
    await limit_login(data.email)
    user = await users.authenticate(svc, email=data.email, password=data.password, client=client())
    return await sessions.token_pair(svc, user, client())


@mutation.field("refresh")
async def resolve_refresh(_, info, refresh_token):
    data = _validate(RefreshIn, {"refresh_token": refresh_token})
    return await sessions.refresh(info.context["svc"], data.refresh_token, client())


@mutation.field("logout")
async def resolve_logout(_, info):
    await sessions.revoke(info.context["svc"], user_id=_user(info), session_id=info.context["session_id"],
                          client=client(), action="auth.logout")
    return True


@mutation.field("revokeSession")
async def resolve_revoke_session(_, info, id):
    await sessions.revoke(info.context["svc"], user_id=_user(info), session_id=parse_id(id, "id"), client=client())
    return True


@query.field("sessions")
async def resolve_sessions(_, info):
    page = await sessions.list_sessions(info.context["svc"], _user(info), current=info.context["session_id"],
                                        limit=100)
    return page["items"]


@mutation.field("createPost")
async def resolve_create_post(_, info, input):
    data = _validate(PostIn, input)
    post = await posts.create_post(info.context["svc"], author_id=_user(info), caption=data.caption,
                                   visibility=data.visibility, idempotency_key=info.context["idempotency_key"])
    return posts.public(post)


async def _react(info, post_id: str, type: str, add: bool):
    eid = await reactions.react(info.context["svc"], user_id=_user(info), post_id=parse_id(post_id, "postId"),
                                type=type, add=add, idempotency_key=info.context["idempotency_key"])
    return {"event_id": str(eid)}


@mutation.field("react")
async def resolve_react(_, info, post_id, type="like"):
    return await _react(info, post_id, type, True)


@mutation.field("unreact")
async def resolve_unreact(_, info, post_id, type="like"):
    return await _react(info, post_id, type, False)


def format_error(error: GraphQLError, debug: bool = False) -> dict:
    formatted = error.formatted
    original = error.original_error
    if isinstance(original, DomainError):
        formatted["message"] = original.message
        formatted["extensions"] = {"code": original.code, "status": original.status}
        if original.details:
            formatted["extensions"]["details"] = original.details
    elif original is not None:
        formatted["message"] = "an unexpected error occurred"
        formatted["extensions"] = {"code": "internal_error"}
    else:
        formatted.setdefault("extensions", {})["code"] = "graphql_validation_failed"
    return formatted


schema = make_executable_schema(
    (Path(__file__).parent / "schema.graphql").read_text(),
    query, mutation, user_type, post_type, reaction_type, convert_names_case=True)
