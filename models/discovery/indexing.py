"""Indexing: each new post's text (caption and hashtags) -> all-MiniLM-L6-v2 -> Qdrant
`videos` (point id = post id, so a redelivered post overwrites itself), with the payload the
recommender filters on. A video post is recommendable only once its video is ready: media events
refresh that flag. The rebuild job's commands (`recs.rebuild`) also run here, as this process
owns Qdrant. A deleted post's point is removed (`remove_posts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast
from uuid import UUID

from sqlalchemy import select

from infra import vectors
from infra.vectors import USERS, VIDEOS
from ml import embeddings
from models.core.events import Received
from models.core.topics import (
    PostCreatedPayload,
    PostDeletedPayload,
    RebuildFinishedPayload,
    RebuildPost,
    RebuildPostsPayload,
    RebuildUsersPayload,
)
from models.discovery.interests import record_signals, refresh_users
from models.discovery.recommendations import (
    AWAITING,
    BUILDING,
    FINISHED,
    Signal,
    awaiting_key,
    guess_language,
    video_posts_key,
)
from models.discovery.trending import hashtags
from models.media.videos import Video

if TYPE_CHECKING:
    from infra.services import Services

BUILD_TTL = 24 * 3600  # an abandoned rebuild stops the double writes after this


@dataclass(frozen=True, slots=True)
class PostDoc:
    post_id: str
    author_id: str
    visibility: str
    caption: str
    created_at: float  # Unix seconds
    video_id: str | None = None

    @classmethod
    def of(cls, p: PostCreatedPayload | RebuildPost, created_at: datetime) -> PostDoc:
        return cls(
            str(p.post_id),
            str(p.author_id),
            p.visibility,
            p.caption or "",
            created_at.timestamp(),
            str(p.video_id) if p.video_id else None,
        )


def post_text(caption: str) -> str:
    """What is embedded: the caption with its hashtags as words ("#StreetFood" -> "StreetFood")."""
    return " ".join(caption.replace("#", " ").split())


async def video_statuses(svc: Services, video_ids) -> dict[str, str]:
    ids = [UUID(v) for v in video_ids]
    if not ids:
        return {}
    async with svc.sessions() as s:
        rows = await s.execute(select(Video.id, Video.status).where(Video.id.in_(ids)))
    return {str(i): st for i, st in rows.all()}


def flags(status: str | None) -> dict:
    return {"ready": status == "ready", "nsfw": status == "rejected"}


def payload_of(doc: PostDoc, status: str | None) -> dict:
    return {
        "author": doc.author_id,
        "created_at": doc.created_at,
        "language": guess_language(doc.caption),
        "visibility": doc.visibility,
        "hashtags": hashtags(doc.caption),
        "video_id": doc.video_id,
        **(flags(status) if doc.video_id else {"ready": True, "nsfw": False}),
    }


async def with_building(svc: Services, alias: str) -> list[str]:
    """[alias] plus the collection a running rebuild is filling, which must see live writes too."""
    building = cast(bytes | None, await svc.redis.get(BUILDING))
    if not building:
        return [alias]
    name = f"{alias}_{building.decode()}"
    await vectors.shared(svc.settings).create(name)
    return [alias, name]


async def index_posts(svc: Services, docs: list[PostDoc], collections: list[str]) -> list[str]:
    """Embed and upsert; posts without any text are left out (nothing to match them on). Returns
    the ids indexed. The whole batch is encoded in one call (sorted by length inside, as a raw
    `encode` is), then upserted: overlapping the two was slower on this 2-core machine, the
    upsert's Python competing with torch's threads (514 against 728 posts/s)."""
    docs = [d for d in {d.post_id: d for d in docs}.values() if post_text(d.caption)]
    if not docs:
        return []
    vecs = vectors.shared(svc.settings)
    await vecs.ensure(VIDEOS, USERS)
    videos = [d.video_id for d in docs if d.video_id]
    status = await video_statuses(svc, videos)
    emb = await embeddings.aencode([post_text(d.caption) for d in docs], svc.settings.recs_embed_batch)
    ids, payloads = (
        [d.post_id for d in docs],
        [payload_of(d, status.get(d.video_id) if d.video_id else None) for d in docs],
    )
    for c in collections:
        await vecs.upsert(c, ids, emb, payloads)
    if videos:
        # A verdict may have landed while this ran: recs_media finds the post through this map
        # from now on, and what changed before is corrected here (one of the two sees it).
        pipe = svc.redis.pipeline(transaction=False)
        for d in docs:
            if d.video_id:
                pipe.sadd(video_posts_key(d.video_id), d.post_id)
        await pipe.execute()
        now = await video_statuses(svc, videos)
        for d in docs:
            if d.video_id and now.get(d.video_id) != status.get(d.video_id):
                for c in collections:
                    await vecs.set_payload(c, flags(now.get(d.video_id)), [d.post_id])
    return [d.post_id for d in docs]


async def remove_posts(svc: Services, events: list[Received], collections: list[str]) -> list[str]:
    """post.deleted -> the posts' points leave every collection written to; their video and
    "awaiting" entries in Redis go too. Returns the ids removed (deleting a missing point is a no-op)."""
    gone = {
        str(e.payload.post_id): e.payload.video_id and str(e.payload.video_id)
        for e in events
        if isinstance(e.payload, PostDeletedPayload)
    }
    if not gone:
        return []
    ids = sorted(gone)
    vecs = vectors.shared(svc.settings)
    await vecs.ensure(VIDEOS, USERS)
    for c in collections:
        await vecs.delete(c, ids)
    pipe = svc.redis.pipeline(transaction=False)
    for pid, video in gone.items():
        if video:
            pipe.srem(video_posts_key(video), pid)
        pipe.delete(awaiting_key(pid))
    pipe.zrem(AWAITING, *ids)
    await pipe.execute()
    return ids


async def apply_rebuild(svc: Services, event: Received) -> None:
    """One step of a rebuild (jobs/rebuild_recommendations.py). Every step is idempotent, and a
    finished version is never touched again."""
    p, redis = event.payload, svc.redis
    version = p.version
    if await redis.sismember(FINISHED, version):
        return
    vecs = vectors.shared(svc.settings)
    await vecs.ensure(VIDEOS, USERS)
    videos, users = f"{VIDEOS}_{version}", f"{USERS}_{version}"
    await vecs.create(videos)
    await vecs.create(users)
    if isinstance(p, RebuildFinishedPayload):
        replaced = [await vecs.swap(VIDEOS, videos), await vecs.swap(USERS, users)]
        pipe = redis.pipeline(transaction=True)
        pipe.hset(
            f"{FINISHED}:{version}",
            mapping={
                "posts_sent": p.posts,
                "users_sent": p.users,
                "videos": videos,
                "users": users,
                "videos_points": await vecs.count(videos),
                "users_points": await vecs.count(users),
                "replaced": ",".join(r for r in replaced if r),
                "at": event.ts.isoformat(),
            },
        )
        pipe.sadd(FINISHED, version)
        pipe.delete(BUILDING)
        await pipe.execute()
        return
    await redis.set(BUILDING, version, ex=BUILD_TTL)
    if isinstance(p, RebuildPostsPayload):
        await index_posts(svc, [PostDoc.of(d, d.created_at) for d in p.posts], [videos])
    elif isinstance(p, RebuildUsersPayload):
        by_user = {
            str(u.user_id): [Signal(s.key, s.kind, s.event_id.hex, s.weight, s.text) for s in u.signals]
            for u in p.users
        }
        await record_signals(redis, by_user, svc.settings.recs_history)
        await refresh_users(svc, list(by_user), videos=videos, targets=[users])
