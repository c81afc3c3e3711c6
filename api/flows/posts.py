"""Creating a post from a validated request: POST /posts and the createPost, createStory and
createVideoPost mutations."""

from __future__ import annotations

from uuid import UUID

from api.inputs.content import PostIn, PostPatchIn
from infra.services import Services
from models.content import editing, publishing
from models.content.posts import Post


async def create_post(svc: Services, author_id: UUID, data: PostIn, idempotency_key: str | None) -> Post:
    return await publishing.create_post(
        svc,
        author_id=author_id,
        caption=data.caption,
        visibility=data.visibility,
        circle_id=data.circle_id,
        video_id=data.video_id,
        image_ids=data.image_ids,
        kind=data.kind,
        idempotency_key=idempotency_key,
        remix=data.remix.spec() if data.remix else None,
    )


async def edit_post(svc: Services, author_id: UUID, post_id: UUID, data: PostPatchIn) -> Post:
    return await editing.edit_post(
        svc,
        actor_id=author_id,
        post_id=post_id,
        caption=data.caption,
        visibility=data.visibility,
        circle_id=data.circle_id if data.visibility is not None else editing.UNSET,
    )
