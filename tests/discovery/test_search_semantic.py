"""The semantic half of posts search (models/discovery/semantic.py, search.py hybrid mode) against the
real stack: the real worker (its semantic_search service, the embeddings agent, Qdrant and the
shipped MiniLM model) answers the API's requests over Redis.

The database and Qdrant are shared by the session: each test looks for its own posts among what
comes back, and the worker-stopping test runs last."""

from __future__ import annotations

import dataclasses
from uuid import UUID, uuid4

from models.core.events import Event, received
from models.discovery import search, semantic
from streams.agents.search_index import search_index
from tests.support.client import gql
from tests.support.factories import create_post, user
from tests.support.waiting import wait_for

# shares no word (nor stem) with the captions below: only the semantic half can find them
QUERY = "kitten sleeping outdoors"


def tok() -> str:
    return "zq" + uuid4().hex[:8]


async def found(client, q: str, u: dict | None = None, **params) -> dict:
    r = await client.get(
        "/search", params={"q": q, "type": "posts", "limit": 50, **params}, headers=u["headers"] if u else None
    )
    assert r.status_code == 200, r.text
    return r.json()


def created(post_id: str, u: dict) -> Event:
    return Event(
        "post.created", {"post_id": post_id, "author_id": str(u["id"]), "visibility": "public", "caption": "x"}
    )


def ids_of(page: dict) -> list[str]:
    return [x["id"] for x in page["items"]]


def test_fuse_is_reciprocal_rank_fusion():
    a, b, c, d = (UUID(int=i) for i in range(1, 5))
    # b is second in both lists: 2/(60+2) beats a's 1/(60+1) from the text list alone
    assert search.fuse([a, b, c], [d, b]) == [b, a, d, c]
    assert search.fuse([a, b], []) == [a, b]
    assert search.fuse([], [d, c]) == [d, c]


async def test_semantic_matches_merged_and_filtered(client, worker, svc):
    author, stranger = await user(client), await user(client)
    t = tok()
    cats = await create_post(client, author, f"Fluffy cats napping in the sunny garden {t}")
    r = await client.post(
        "/posts",
        json={"caption": f"Two cats asleep under a tree in the yard {t}", "visibility": "followers"},
        headers=author["headers"],
    )
    assert r.status_code == 201, r.text
    secret = r.json()["id"]

    async def both_found() -> bool:
        return {cats, secret} <= set(ids_of(await found(client, QUERY, author)))

    await wait_for(both_found, timeout=90, interval=0.5, what="both posts embedded by the worker")
    page = await found(client, QUERY, author)
    assert page["semantic"] is True
    # the text half alone finds neither
    text_only = await found(client, QUERY, author, mode="text")
    assert text_only["semantic"] is False and not {cats, secret} & set(ids_of(text_only))
    # the same visibility rule as text hits: followers-only is not for strangers nor anonymous callers
    for viewer in (stranger, None):
        page = await found(client, QUERY, viewer)
        assert page["semantic"] is True and cats in ids_of(page) and secret not in ids_of(page)
    # GraphQL: the same function
    data = await gql(
        client,
        author,
        "query($q: String!) { search(q: $q, type: POSTS, limit: 50) { posts { id } semantic nextCursor } }",
        {"q": QUERY},
    )
    assert "errors" not in data, data
    assert data["data"]["search"]["semantic"] is True and cats in [p["id"] for p in data["data"]["search"]["posts"]]
    # a block hides semantic hits too
    r = await client.post(f"/users/{author['id']}/block", headers=stranger["headers"])
    assert r.status_code in (200, 201, 204), r.text
    assert cats not in ids_of(await found(client, QUERY, stranger))
    # the setting off: text only, and the page says so
    off = dataclasses.replace(svc, settings=svc.settings.model_copy(update={"search_semantic": False}))
    page = await search.search(off, None, q=QUERY, type="posts", limit=50)
    assert page["semantic"] is False and cats not in ids_of(page)
    # pages of the fused list: the same posts as one page, none twice
    whole = ids_of(await found(client, QUERY))
    seen, cursor = [], None
    for _ in range(60):
        page = await found(client, QUERY, **({"cursor": cursor} if cursor else {}), limit=3)
        assert page["semantic"] is True
        seen += ids_of(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert cursor is None and len(seen) == len(set(seen)) and cats in seen
    assert set(seen) == set(whole)


async def test_text_hits_beyond_the_fused_list_follow_it(client, worker, svc):
    """More text hits than SEARCH_HYBRID_CANDIDATES: after the fused list the text hits go on by
    keyset, without repeating the semantic hits already served."""
    u = await user(client)
    t = tok()
    made = [await create_post(client, u, f"page {t} {'again ' * i}") for i in range(13)]
    await search_index([received(created(p, u)) for p in made], svc)
    small = dataclasses.replace(svc, settings=svc.settings.model_copy(update={"search_hybrid_candidates": 10}))
    seen: list[str] = []
    cursor = None
    for _ in range(40):
        page = await search.search(small, None, q=t, type="posts", cursor=cursor, limit=4)
        assert page["semantic"] is True
        seen += [str(p["id"]) for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert cursor is None and len(seen) == len(set(seen)) and set(made) <= set(seen)


async def test_without_the_worker_text_only_and_said(client, worker, redis, svc):
    """Runs last in this file: it stops the worker (the next test asking for one restarts it)."""
    u = await user(client)
    t = tok()
    p = await create_post(client, u, f"Morning workout at the gym {t}")
    await search_index([received(created(p, u))], svc)
    assert worker.proc is not None
    worker.proc.stop()
    assert not await redis.exists(semantic.ALIVE)  # the service left on its way out
    page = await found(client, f"workout {t}")
    assert page["semantic"] is False and p in ids_of(page)  # the text half still answers
    # a worker that announced itself but does not answer: the API waits SEARCH_SEMANTIC_TIMEOUT, then text only
    await redis.set(semantic.ALIVE, "1", ex=5)
    page = await found(client, f"workout {t}")
    assert page["semantic"] is False
    assert p in ids_of(page)  # the text hit is served
    await redis.delete(semantic.ALIVE)
