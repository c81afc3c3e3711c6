"""Embeddings agents: new and deleted posts, video changes and rebuild commands -> Qdrant `videos`
(models/discovery/indexing.py does the work)."""

from __future__ import annotations

from infra import vectors
from infra.vectors import USERS, VIDEOS
from ml import embeddings
from models.core.events import Received
from models.core.topics import MEDIA, POSTS, RECS_REBUILD, PostCreatedPayload, PostDeletedPayload
from models.discovery.indexing import (
    PostDoc,
    apply_rebuild,
    flags,
    index_posts,
    remove_posts,
    video_statuses,
    with_building,
)
from models.discovery.interests import refresh_users
from models.discovery.recommendations import (
    AWAITING,
    awaiting_key,
    video_posts_key,
)
from streams.batch import batch_agent


@batch_agent(POSTS, name="recs_embeddings", max_records=512, warmup=embeddings.warm)
async def recs_embeddings(events: list[Received], svc) -> None:
    deleted = {e.payload.post_id for e in events if isinstance(e.payload, PostDeletedPayload)}
    # keyed by post: a post's deletion comes after its creation, in this batch or a later one
    docs = [
        PostDoc.of(e.payload, e.ts)
        for e in events
        if isinstance(e.payload, PostCreatedPayload) and e.payload.post_id not in deleted
    ]
    if deleted:
        await remove_posts(svc, events, await with_building(svc, VIDEOS))
    if not docs:
        return
    indexed = await index_posts(svc, docs, await with_building(svc, VIDEOS))
    if not indexed:
        return
    awaited = [pid for pid, at in zip(indexed, await svc.redis.zmscore(AWAITING, indexed)) if at is not None]
    if awaited:  # users engaged with these posts before they were indexed
        pipe = svc.redis.pipeline(transaction=True)
        for pid in awaited:
            pipe.smembers(awaiting_key(pid))
            pipe.delete(awaiting_key(pid))
        pipe.zrem(AWAITING, *awaited)
        waiting = {m.decode() for ms in (await pipe.execute())[:-1:2] for m in ms}
        if waiting:
            await refresh_users(svc, sorted(waiting))


@batch_agent(MEDIA, name="recs_media", max_records=500, warmup=embeddings.warm)
async def recs_media(events: list[Received], svc) -> None:
    """Any change to a video: its posts' `ready`/`nsfw` flags from the video's status now
    (PostgreSQL is the truth, so order and repetition of events do not matter)."""
    videos = sorted({str(e.payload.video_id) for e in events})
    if not videos:
        return
    pipe = svc.redis.pipeline(transaction=False)
    for v in videos:
        pipe.smembers(video_posts_key(v))
    posts = {v: sorted(m.decode() for m in ms) for v, ms in zip(videos, await pipe.execute()) if ms}
    if not posts:
        return
    status = await video_statuses(svc, posts)
    vecs = vectors.shared(svc.settings)
    await vecs.ensure(VIDEOS, USERS)
    for c in await with_building(svc, VIDEOS):
        for v, ids in posts.items():
            await vecs.set_payload(c, flags(status.get(v)), ids)


@batch_agent(RECS_REBUILD, name="recs_rebuild", max_records=8, warmup=embeddings.warm)
async def recs_rebuild(events: list[Received], svc) -> None:
    for e in events:
        await apply_rebuild(svc, e)
