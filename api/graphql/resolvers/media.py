"""Resolvers for videos: status and posting a video (REST: GET /media/{id}/status, POST /posts)."""

from __future__ import annotations

from uuid import UUID

from ariadne import EnumType, MutationType, ObjectType, QueryType
from quart import request

from api.auth import parse_id
from api.flows import posts as flows
from api.graphql.resolvers.common import current_user, validate, viewer
from api.inputs.content import PostIn
from models.content import post_videos, posts
from models.core.errors import DomainError, NotFound
from models.media import videos

query, mutation = QueryType(), MutationType()
video_type, post_type = ObjectType("Video"), ObjectType("Post")
video_status = EnumType("VideoStatus", {s.upper(): s for s in videos.STATUSES})


@query.field("video")
async def resolve_video(_, info, id):
    return await post_videos.video_status(
        info.context["svc"], parse_id(id, "id"), viewer(info), base_url=request.host_url
    )


@video_type.field("id")
def resolve_video_id(video, info):
    return video["video_id"]


@mutation.field("createVideoPost")
async def resolve_create_video_post(_, info, input):
    data = validate(PostIn, input)
    if data.video_id is None:
        raise DomainError("videoId is required", code="validation_error")
    post = await flows.create_post(info.context["svc"], current_user(info), data, info.context["idempotency_key"])
    return posts.public(post)


@post_type.field("video")
async def resolve_post_video(post, info):
    if not post.get("video_id"):
        return None
    try:
        return await post_videos.video_status(
            info.context["svc"], UUID(post["video_id"]), viewer(info), base_url=request.host_url
        )
    except NotFound:  # not ready yet, for anyone but its owner
        return None


bindables = [query, mutation, video_type, post_type, video_status]
