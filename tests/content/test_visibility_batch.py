"""visibility.who_can_see (many viewers of one post, used by the realtime core's re-checks)
answers exactly what can_see answers viewer by viewer, blocks included, cached or not."""

from __future__ import annotations

from uuid import UUID

from models.content import posts, visibility
from models.core.events import new_id
from models.engagement import FollowChange
from models.social import blocks
from tests.support.factories import user


async def test_who_can_see_agrees_with_can_see(client, svc, redis):
    author, fan, stranger, blocked_fan, blocker = [await user(client) for _ in range(5)]
    await svc.store.apply_follows(
        [FollowChange(u["id"], author["id"], True, new_id()) for u in (fan, blocked_fan, blocker)]
    )
    for blocker_id, target in ((author["id"], blocked_fan["id"]), (blocker["id"], author["id"])):
        r = await client.post(
            f"/users/{target}/block", headers=(author if blocker_id == author["id"] else blocker)["headers"]
        )
        assert r.status_code in (200, 201, 204), r.text
    viewers = [u["id"] for u in (author, fan, stranger, blocked_fan, blocker)]
    for vis, want in (
        ("public", {author["id"], fan["id"], stranger["id"]}),
        ("followers", {author["id"], fan["id"]}),
    ):
        r = await client.post("/posts", json={"caption": "x", "visibility": vis}, headers=author["headers"])
        ref = await posts.ensure_exists(svc, UUID(r.json()["id"]))
        await redis.delete(*[blocks.cache_key(v, author["id"]) for v in viewers])  # the misses path
        assert await visibility.who_can_see(svc, viewers, ref) == want
        assert await visibility.who_can_see(svc, viewers, ref) == want  # the cached path
        assert {v for v in viewers if await visibility.can_see(svc, v, ref)} == want
    assert await blocks.blocked_with(svc, viewers, author["id"]) == {blocked_fan["id"], blocker["id"]}
