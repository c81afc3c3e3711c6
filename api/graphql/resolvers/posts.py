"""Resolvers for the post view, grids, pins, bookmarks and edits (sdl/posts.graphql). Each part
of a Post comes from a per-request DataLoader (api/graphql/loaders.py); a part already present
(a post rendered by a mutation) is used as is."""

from __future__ import annotations

from uuid import UUID

from ariadne import MutationType, ObjectType, QueryType

from api.auth import parse_id
from api.flows import posts as flows
from api.graphql.loaders import loaders
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import page as _page
from api.graphql.resolvers.common import validate as _validate
from api.graphql.resolvers.common import viewer as _viewer
from api.inputs import ShortPageIn
from api.inputs.content import PostPatchIn
from models.accounts import users
from models.content import bookmarks, grid, post_view, posts
from models.social import flows as social_flows

query, mutation = QueryType(), MutationType()
post_type, profile_type, user_type = ObjectType("Post"), ObjectType("Profile"), ObjectType("User")


@post_type.field("author")
async def resolve_author(post, info):
    return post.get("author") or await loaders(info).author.load(UUID(post["author_id"]))


@post_type.field("media")
async def resolve_media(post, info):
    if "media" in post:
        return post["media"]
    video = UUID(post["video_id"]) if post.get("video_id") else None
    # a post without a video may be a photo post: the loader finds its images with the page's
    return await loaders(info).media.load((UUID(post["id"]), video, post["visibility"]))


@post_type.field("counters")
async def resolve_counters(post, info):
    return post.get("counters") or await loaders(info).counters.load(UUID(post["id"]))


@post_type.field("viewer")
async def resolve_viewer(post, info):
    if "viewer" in post:
        return post["viewer"]
    if info.context["user_id"] is None:
        return None
    return await loaders(info).viewer.load((UUID(post["id"]), UUID(post["author_id"])))


@post_type.field("remix")
async def resolve_remix(post, info):
    if "remix" in post:  # already read with the post (remix lists)
        return post["remix"]
    return await loaders(info).remix.load(UUID(post["id"]))


@profile_type.field("counts")
async def resolve_counts(profile, info):
    if "counts" in profile:
        return profile["counts"]
    return await grid.counts(info.context["svc"], info.context["user_id"], UUID(profile["user_id"]))


@user_type.field("posts")
async def resolve_user_posts(user, info, cursor=None, limit=20):
    svc, viewer = info.context["svc"], _viewer(info)  # public: None without a token
    q = _validate(ShortPageIn, {"cursor": cursor, "limit": limit})
    page = await grid.user_posts(svc, viewer, UUID(user["id"]), cursor=q.cursor, limit=q.limit)
    return await post_view.refresh_page(svc, viewer, page, key=None)


@query.field("userByUsername")
async def resolve_user_by_username(_, info, username):
    svc, viewer = info.context["svc"], _viewer(info)  # public: None without a token
    user_id = await grid.user_id_by_username(svc, username)
    profile = await social_flows.view_profile(
        svc, viewer, user_id, base_url=info.context["base_url"]
    )  # 404 when hidden
    user = await users.get_user(svc, user_id)
    return {**users.public(user), "email": user.email if user_id == viewer else None, "profile": profile}


@query.field("bookmarks")
async def resolve_bookmarks(_, info, cursor=None, limit=20):
    svc, viewer = info.context["svc"], _user(info)
    q = _page(cursor, limit)
    page = await bookmarks.list_bookmarks(svc, viewer, cursor=q.cursor, limit=q.limit)
    return await post_view.refresh_page(svc, viewer, page, key=None)


@mutation.field("editPost")
async def resolve_edit_post(_, info, id, input):
    data = _validate(PostPatchIn, input)
    post = await flows.edit_post(info.context["svc"], _user(info), parse_id(id, "id"), data)
    return posts.public(post)


@mutation.field("pinPost")
async def resolve_pin(_, info, id):
    await grid.pin(info.context["svc"], _user(info), parse_id(id, "id"))
    return True


@mutation.field("unpinPost")
async def resolve_unpin(_, info, id):
    await grid.unpin(info.context["svc"], _user(info), parse_id(id, "id"))
    return True


@mutation.field("bookmarkPost")
async def resolve_bookmark(_, info, id):
    await bookmarks.add(info.context["svc"], _user(info), parse_id(id, "id"))
    return True


@mutation.field("unbookmarkPost")
async def resolve_unbookmark(_, info, id):
    await bookmarks.remove(info.context["svc"], _user(info), parse_id(id, "id"))
    return True


bindables = [query, mutation, post_type, profile_type, user_type]
