"""Resolvers for duets and stitches (sdl/remixes.graphql)."""

from __future__ import annotations

from uuid import UUID

from ariadne import EnumType, MutationType, ObjectType

from api.auth import parse_id
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import validate as _validate
from api.inputs.content import RemixPageIn, RemixSettingsIn
from models.content import post_view, remixes

mutation, post_type = MutationType(), ObjectType("Post")
remix_type = EnumType("RemixType", {t.upper(): t for t in remixes.TYPES})


@mutation.field("setRemixSettings")
async def resolve_set_remix_settings(_, info, post_id, allow_duets=None, allow_stitches=None):
    data = _validate(RemixSettingsIn, {"allow_duets": allow_duets, "allow_stitches": allow_stitches})
    return await remixes.set_settings(
        info.context["svc"],
        _user(info),
        parse_id(post_id, "postId"),
        allow_duets=data.allow_duets,
        allow_stitches=data.allow_stitches,
    )


@post_type.field("remixes")
async def resolve_post_remixes(post, info, type=None, cursor=None, limit=20):
    q = _validate(RemixPageIn, {"type": type, "cursor": cursor, "limit": limit})
    svc, viewer = info.context["svc"], _user(info)
    page = await remixes.list_remixes(svc, viewer, UUID(post["id"]), type=q.type, cursor=q.cursor, limit=q.limit)
    return await post_view.refresh_page(svc, viewer, page, key=None)


bindables = [mutation, post_type, remix_type]
