"""posts.ensure_exists: concurrent callers for a post missing from the cache share one query."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest

from models.content import posts
from models.core.errors import NotFound
from models.core.events import new_id
from tests.support.factories import create_post, register


async def test_concurrent_lookups_of_one_post_share_one_query(client, svc, monkeypatch):
    author = await register(client)
    post_id = UUID(await create_post(client, author))
    posts._known.pop(post_id, None)  # the API process cached it, this one did not; be sure
    calls = []
    real = posts._lookup

    async def counted(svc_, pid):
        calls.append(pid)
        return await real(svc_, pid)

    monkeypatch.setattr(posts, "_lookup", counted)
    refs = await asyncio.gather(*(posts.ensure_exists(svc, post_id) for _ in range(50)))
    assert calls == [post_id]
    assert {r.author_id for r in refs} == {UUID(author["user"]["id"])}
    assert not posts._loading

    missing = new_id()
    results = await asyncio.gather(*(posts.ensure_exists(svc, missing) for _ in range(10)), return_exceptions=True)
    assert calls == [post_id, missing]
    assert all(isinstance(r, NotFound) and r.code == "post_not_found" for r in results)
    with pytest.raises(NotFound):  # a miss is not cached: asked again, looked up again
        await posts.ensure_exists(svc, missing)
    assert calls == [post_id, missing, missing]


async def test_a_cancelled_caller_does_not_cancel_the_others(client, svc):
    author = await register(client)
    post_id = UUID(await create_post(client, author))
    posts._known.pop(post_id, None)
    first = asyncio.ensure_future(posts.ensure_exists(svc, post_id))
    second = asyncio.ensure_future(posts.ensure_exists(svc, post_id))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second).id == post_id
