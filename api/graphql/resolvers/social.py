"""Resolvers for the social graph: follows, blocks, mutes, circles (docs/social.md)."""

from __future__ import annotations

from uuid import UUID

from ariadne import MutationType, ObjectType, QueryType

from api.auth import parse_id
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import page as _page
from api.graphql.resolvers.common import validate as _validate
from api.inputs.social import CircleIn
from models.social import blocking, circles, follows, mutes
from models.social.lookups import require_user

query, mutation = QueryType(), MutationType()
user_type = ObjectType("User")


@query.field("followers")
async def resolve_followers(_, info, user_id, cursor=None, limit=50):
    page = _page(cursor, limit)
    return await follows.followers(
        info.context["svc"], parse_id(user_id, "userId"), viewer_id=_user(info), cursor=page.cursor, limit=page.limit
    )


@query.field("following")
async def resolve_following(_, info, user_id, cursor=None, limit=50):
    page = _page(cursor, limit)
    return await follows.following(
        info.context["svc"], parse_id(user_id, "userId"), viewer_id=_user(info), cursor=page.cursor, limit=page.limit
    )


@query.field("followCounts")
async def resolve_follow_counts(_, info, user_id):
    _user(info)
    svc, uid = info.context["svc"], parse_id(user_id, "userId")
    await require_user(svc, uid)
    return await follows.follow_counts(svc, uid)


@user_type.field("followCounts")
async def resolve_user_follow_counts(user, info):
    return await follows.follow_counts(info.context["svc"], UUID(user["id"]))


@query.field("circles")
async def resolve_circles(_, info):
    me = _user(info)
    return (await circles.list_circles(info.context["svc"], viewer_id=me, owner_id=me))["items"]


@query.field("circleMembers")
async def resolve_circle_members(_, info, circle_id, cursor=None, limit=50):
    page, me = _page(cursor, limit), _user(info)
    return await circles.list_members(
        info.context["svc"],
        viewer_id=me,
        owner_id=me,
        circle_id=parse_id(circle_id, "circleId"),
        cursor=page.cursor,
        limit=page.limit,
    )


@query.field("blocks")
async def resolve_blocks(_, info, cursor=None, limit=50):
    page = _page(cursor, limit)
    return await blocking.list_blocks(info.context["svc"], _user(info), cursor=page.cursor, limit=page.limit)


@query.field("mutes")
async def resolve_mutes(_, info, cursor=None, limit=50):
    page = _page(cursor, limit)
    return await mutes.list_mutes(info.context["svc"], _user(info), cursor=page.cursor, limit=page.limit)


async def _follow(info, user_id: str, add: bool) -> dict:
    eid = await follows.follow(
        info.context["svc"],
        follower_id=_user(info),
        followee_id=parse_id(user_id, "userId"),
        add=add,
        idempotency_key=info.context["idempotency_key"],
    )
    return {"event_id": str(eid)}


@mutation.field("follow")
async def resolve_follow(_, info, user_id):
    return await _follow(info, user_id, True)


@mutation.field("unfollow")
async def resolve_unfollow(_, info, user_id):
    return await _follow(info, user_id, False)


@mutation.field("block")
async def resolve_block(_, info, user_id):
    await blocking.block(info.context["svc"], blocker_id=_user(info), target_id=parse_id(user_id, "userId"))
    return True


@mutation.field("unblock")
async def resolve_unblock(_, info, user_id):
    await blocking.unblock(info.context["svc"], blocker_id=_user(info), target_id=parse_id(user_id, "userId"))
    return True


@mutation.field("mute")
async def resolve_mute(_, info, user_id):
    await mutes.mute(info.context["svc"], muter_id=_user(info), target_id=parse_id(user_id, "userId"))
    return True


@mutation.field("unmute")
async def resolve_unmute(_, info, user_id):
    await mutes.unmute(info.context["svc"], muter_id=_user(info), target_id=parse_id(user_id, "userId"))
    return True


@mutation.field("createCircle")
async def resolve_create_circle(_, info, name):
    data, me = _validate(CircleIn, {"name": name}), _user(info)
    return await circles.create_circle(info.context["svc"], viewer_id=me, owner_id=me, name=data.name)


@mutation.field("addCircleMember")
async def resolve_add_circle_member(_, info, circle_id, user_id):
    me = _user(info)
    return await circles.add_member(
        info.context["svc"],
        viewer_id=me,
        owner_id=me,
        circle_id=parse_id(circle_id, "circleId"),
        member_id=parse_id(user_id, "userId"),
    )


@mutation.field("removeCircleMember")
async def resolve_remove_circle_member(_, info, circle_id, user_id):
    me = _user(info)
    await circles.remove_member(
        info.context["svc"],
        viewer_id=me,
        owner_id=me,
        circle_id=parse_id(circle_id, "circleId"),
        member_id=parse_id(user_id, "userId"),
    )
    return True


bindables = [query, mutation, user_type]
