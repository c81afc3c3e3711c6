"""Recommendations figures: the embeddings agent's throughput against raw `model.encode` on the same
texts (target >= 90%), and GET /recommendations/users/{id}/recommended p50/p99."""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
import uuid

import aiohttp
import orjson

from infra import vectors
from infra.services import Services
from infra.settings import Settings
from jobs.eval_recommender import FILLER, TOPICS
from ml import embeddings
from models.core.events import Event
from models.discovery.indexing import post_text
from models.discovery.recommendations import served_key, store_candidates
from streams.agents.embeddings import recs_embeddings
from tests.bench import api_load

TEXTS = 2048
ROUNDS = 3


def captions(n: int, seed: int = 11) -> list[str]:
    """Short-video captions: 8-40 words (mean 24) about one topic, with 1-3 hashtags."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        topic = rng.choice(list(TOPICS))
        words = TOPICS[topic].split() + FILLER
        out.append(
            " ".join(rng.choices(words, k=rng.randint(8, 40)))
            + "".join(f" #{t}" for t in rng.sample(list(TOPICS), rng.randint(0, 2)) + [topic])
        )
    return out


def run(settings: Settings, base: str, requests: int = 300) -> dict:
    return asyncio.run(_run(settings, base, requests))


async def _run(settings: Settings, base: str, requests: int) -> dict:
    caps = captions(TEXTS)
    embeddings.encode([post_text(c) for c in caps[:128]])  # load and warm up
    raw_s = agent_s = 0.0
    for _ in range(ROUNDS):
        r, a = await _paired(settings, caps)
        raw_s, agent_s = raw_s + r, agent_s + a
    n = ROUNDS * TEXTS
    out = {
        "texts": n,
        "batch": settings.recs_embed_batch,
        "max_records": recs_embeddings.max_records,
        "raw_rate": n / raw_s,
        "agent_rate": n / agent_s,
        "ratio": raw_s / agent_s,
    }
    out.update(await _endpoint(settings, base, requests))
    return out


async def _paired(settings: Settings, texts: list[str]) -> tuple[float, float]:
    """Seconds of raw `encode` and of the registered agent's handler over the same texts, batch by
    batch (max_records post.created envelopes; the agent upserts into a local on-disk Qdrant, as
    in the worker). Each batch is timed raw and through the agent right after each other, in
    alternating order, so that the machine's load weighs on both alike."""
    events = [
        orjson.loads(
            Event(
                "post.created",
                {"post_id": str(pid), "author_id": str(uuid.uuid4()), "visibility": "public", "caption": c},
                id=pid,
            ).to_bytes()
        )
        for pid, c in ((uuid.uuid4(), c) for c in texts)
    ]
    raw_s = agent_s = 0.0
    with tempfile.TemporaryDirectory(prefix="daira-bench-qdrant-") as tmp:
        svc = await Services.start(settings.model_copy(update={"qdrant_path": tmp}), relay=False)
        try:
            await vectors.shared(svc.settings).ensure(vectors.VIDEOS, vectors.USERS)
            n = recs_embeddings.max_records
            for k, i in enumerate(range(0, len(events), n)):
                for step in ("raw", "agent") if k % 2 == 0 else ("agent", "raw"):  # no order bias
                    t0 = time.perf_counter()
                    if step == "raw":  # off the event loop's thread, like the agent's
                        await asyncio.to_thread(
                            embeddings.model().encode,
                            [post_text(c) for c in texts[i : i + n]],
                            batch_size=settings.recs_embed_batch,
                            normalize_embeddings=True,
                        )
                        raw_s += time.perf_counter() - t0
                    else:
                        await recs_embeddings(events[i : i + n], svc)
                        agent_s += time.perf_counter() - t0
            assert await vectors.shared(svc.settings).count(vectors.VIDEOS) == len(events)
        finally:
            await svc.stop()
            vectors.close_all()
    return raw_s, agent_s


async def _endpoint(settings: Settings, base: str, requests: int) -> dict:
    """A viewer with a 300-post candidate list from 30 authors: the first page (ranks, filters
    and stores a snapshot) and the next page (from the snapshot), sequential requests."""
    users = await api_load.register_users(base, 31)
    viewer, authors = users[0], users[1:]
    posts = await api_load.create_posts(base, authors, 300)
    svc = await Services.start(settings, relay=False)
    first, nxt = [], []
    try:
        await store_candidates(
            svc.redis, viewer["id"], [(p, 1.0 - i / 1000) for i, p in enumerate(posts)], int(time.time() * 1000)
        )
        url = f"{base}/recommendations/users/{viewer['id']}/recommended"
        async with aiohttp.ClientSession(headers=viewer["headers"]) as http:
            for _ in range(requests):
                await svc.redis.delete(served_key(viewer["id"]))  # every visit sees the whole list
                await svc.redis.set(f"recs:refresh:{viewer['id']}", b"1", ex=60)  # no worker here
                t0 = time.perf_counter()
                async with http.get(url) as r:
                    body = await r.json()
                first.append((time.perf_counter() - t0) * 1000)
                assert r.status == 200 and len(body["items"]) == settings.recs_page_size, body
                t0 = time.perf_counter()
                async with http.get(url, params={"cursor": body["next_cursor"]}) as r:
                    await r.read()
                nxt.append((time.perf_counter() - t0) * 1000)
                assert r.status == 200
    finally:
        await svc.stop()
    return {
        "requests": requests,
        "first_p50_ms": api_load.pct(first, 50),
        "first_p99_ms": api_load.pct(first, 99),
        "next_p50_ms": api_load.pct(nxt, 50),
        "next_p99_ms": api_load.pct(nxt, 99),
    }


def report_lines(r: dict) -> list[str]:
    return [
        f"{'10. embeddings agent (posts/s)':<44}{r['agent_rate']:>16,.0f}  {r['texts']:,} captions (8-40 words) in "
        f"batches of {r['max_records']} events, encode batch {r['batch']}, upsert to local Qdrant on disk",
        f"{'    raw model.encode (texts/s)':<44}{r['raw_rate']:>16,.0f}  the same batches, timed alternately with "
        f"the agent's",
        f"{'    agent / raw encode':<44}{r['ratio']:>15.1%}   target >= 90%",
        f"{'11. GET recommended, first page p50 (ms)':<44}{r['first_p50_ms']:>16.1f}  p99 {r['first_p99_ms']:.1f} ms; "
        f"next page p50 {r['next_p50_ms']:.1f} ms, p99 {r['next_p99_ms']:.1f} ms; {r['requests']} sequential "
        f"each, 300 candidates from 30 authors",
    ]
