"""Creating a post from a validated request: POST /posts and the createPost, createStory and
createVideoPost mutations."""

from __future__ import annotations

from uuid import UUID

from api.inputs.content import PostIn
from infra.services import Services
from models.content import publishing
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
