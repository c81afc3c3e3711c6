"""The embeddings agents fed events directly (no broker): the real model, a local-mode Qdrant in a
temp dir, the real PostgreSQL and Redis of the `stack_env` fixture."""

from __future__ import annotations

from uuid import UUID, uuid4

import numpy as np
import pytest_asyncio
from sqlalchemy import update

from infra import vectors
from infra.services import Services
from infra.settings import get_settings
from infra.vectors import VIDEOS
from ml import embeddings
from models.accounts import users
from models.core.events import Event, received
from models.discovery.indexing import post_text
from models.discovery.recommendations import guess_language
from models.discovery.trending import hashtags
from models.media.videos import Video
from streams.agents.embeddings import recs_embeddings, recs_media


@pytest_asyncio.fixture
async def svc(stack_env, tmp_path, model):
    # Its own Qdrant path: a worker of this test session may own the stack's.
    s = await Services.start(get_settings().model_copy(update={"qdrant_path": str(tmp_path / "qdrant")}), relay=False)
    yield s
    await s.stop()
    vectors.close_all()


def post_event(caption: str, author: UUID | None = None, post: UUID | None = None, video: UUID | None = None) -> dict:
    post = post or uuid4()
    payload = {
        "post_id": str(post),
        "author_id": str(author or uuid4()),
        "visibility": "public",
        "caption": caption,
        "video_id": str(video) if video else None,
    }
    return received(Event("post.created", payload, id=post))


async def points(svc, ids) -> dict:
    vecs = vectors.shared(svc.settings)
    await vecs.ensure(VIDEOS)
    got = await vecs.run(vecs.client.retrieve, VIDEOS, [str(i) for i in ids], with_vectors=True)
    return {p.id: p for p in got}


async def test_posts_are_embedded_with_their_payload(svc):
    author = uuid4()
    food = post_event("Grandma's pasta recipe with fresh basil #Food #cooking", author)
    arabic = post_event("أفضل مطاعم الرياض #طعام", author)
    await recs_embeddings([food, arabic], svc)
    got = await points(svc, [str(food.id), str(arabic.id)])
    p = got[str(food.id)]
    assert p.payload["author"] == str(author)
    assert p.payload["hashtags"] == ["food", "cooking"]
    assert p.payload["language"] == "en" and got[str(arabic.id)].payload["language"] == "ar"
    assert p.payload["visibility"] == "public" and p.payload["nsfw"] is False and p.payload["ready"] is True
    assert p.payload["created_at"] == food.ts.timestamp()
    v = np.asarray(p.vector)
    assert v.shape == (384,) and abs(np.linalg.norm(v) - 1) < 1e-4
    expected = embeddings.encode([post_text(food.payload.caption)])[0]
    assert float(v @ expected) > 0.999


async def test_redelivery_and_duplicates_are_idempotent(svc):
    evs = [post_event(f"street food tour number {i} #travel") for i in range(5)]
    await recs_embeddings(evs, svc)
    before = await points(svc, [str(e.id) for e in evs])
    await recs_embeddings(evs + evs[:2], svc)  # the batch again, with duplicates inside
    after = await points(svc, [str(e.id) for e in evs])
    vecs = vectors.shared(svc.settings)
    assert await vecs.count(VIDEOS) == 5
    for pid, p in after.items():
        assert np.allclose(p.vector, before[pid].vector) and p.payload == before[pid].payload


async def test_posts_without_text_are_not_indexed(svc):
    empty = post_event("   ")
    await recs_embeddings([empty], svc)
    assert await points(svc, [str(empty.id)]) == {}


async def test_search_ranks_by_meaning(svc):
    cooking = post_event("slow cooked lamb and rice, a family dinner recipe #cooking")
    football = post_event("last minute goal wins the derby #football")
    await recs_embeddings([cooking, football], svc)
    vecs = vectors.shared(svc.settings)
    [hits] = await vecs.search_many(VIDEOS, [embeddings.encode(["what to cook tonight"])[0]], 2, ["author"])
    assert [h.id for h in hits] == [str(cooking.id), str(football.id)]


async def test_a_video_post_is_recommendable_only_once_its_video_is_ready(svc):
    tag = uuid4().hex[:10]
    owner = await users.register(svc, email=f"v{tag}@example.com", password="correct horse 1", username=f"v{tag}")
    video = Video(owner_id=owner.id, status="processing", size=1)
    async with svc.sessions() as s, s.begin():
        s.add(video)
    ev = post_event("my first clip #dance", owner.id, video=video.id)
    await recs_embeddings([ev], svc)
    assert (await points(svc, [str(ev.id)]))[str(ev.id)].payload["ready"] is False

    async def moderated(status: str, decision: str) -> dict:
        async with svc.sessions() as s, s.begin():
            await s.execute(update(Video).where(Video.id == video.id).values(status=status))
        payload = {"video_id": str(video.id), "owner_id": str(owner.id), "decision": decision, "score": 0.1}
        await recs_media([received(Event("media.moderated", payload))], svc)
        return (await points(svc, [str(ev.id)]))[str(ev.id)].payload

    assert {k: v for k, v in (await moderated("ready", "publish")).items() if k in ("ready", "nsfw")} == {
        "ready": True,
        "nsfw": False,
    }
    assert {k: v for k, v in (await moderated("rejected", "reject")).items() if k in ("ready", "nsfw")} == {
        "ready": False,
        "nsfw": True,
    }


def test_text_helpers():
    assert hashtags("#Food and #food #Travel_2") == ["food", "travel_2"]
    assert post_text("#StreetFood  in\nCairo") == "StreetFood in Cairo"
    assert guess_language("مرحبا بالعالم") == "ar" and guess_language("hello") == "en"
    assert guess_language("12345 !!") == "und"
