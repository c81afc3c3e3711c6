"""Follows: the agent fed directly (no broker) against the real PostgreSQL store, then the whole
path API -> broker -> follows agent -> store -> REST / GraphQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from models.accounts import users
from models.core.events import Event, Received, decoder, new_id, received
from models.core.topics import FOLLOWS
from models.engagement import FollowLink
from models.social import blocking
from streams.agents.follows import follows
from streams.batch import poison_error
from tests.support.factories import register
from tests.support.processes import REPO
from tests.support.waiting import wait_for


def ev(kind: str, follower: UUID, followee: UUID, eid: UUID | None = None) -> Received:
    e = Event(
        f"follow.{kind}",
        {"follower_id": str(follower), "followee_id": str(followee)},
        actor=follower,
        id=eid or new_id(),
    )
    return received(e)


async def counts(svc, user: UUID) -> dict:
    return (await svc.store.get_follow_counts([user]))[user]


async def test_duplicates_and_redelivery_count_once(svc):
    a, b = uuid4(), uuid4()
    follow = ev("added", a, b)
    await follows([follow], svc)
    await follows([follow], svc)  # redelivered batch
    await follows([follow, follow], svc)  # duplicate within a batch
    assert await counts(svc, b) == {"followers": 1, "following": 0}
    assert await counts(svc, a) == {"followers": 0, "following": 1}
    assert await svc.store.is_following(a, b) and not await svc.store.is_following(b, a)


async def test_follow_unfollow_follow_in_one_batch_and_across_batches(svc):
    a, b = uuid4(), uuid4()
    seq = [ev("added", a, b), ev("removed", a, b), ev("added", a, b)]
    await follows(seq, svc)
    assert await counts(svc, b) == {"followers": 1, "following": 0}
    await follows(seq, svc)  # the whole sequence redelivered
    await follows(seq[:2], svc)  # part of it, late
    assert await counts(svc, b) == {"followers": 1, "following": 0}
    await follows([ev("removed", a, b)], svc)
    assert await counts(svc, b) == {"followers": 0, "following": 0}
    assert await counts(svc, a) == {"followers": 0, "following": 0}
    assert not await svc.store.is_following(a, b)


async def test_stale_and_never_added_events_move_nothing(svc):
    a, b, c = uuid4(), uuid4(), uuid4()
    old_follow, newer_unfollow = ev("added", a, b), ev("removed", a, b)
    await follows([newer_unfollow], svc)
    await follows([old_follow], svc)  # a late retry of an earlier request
    await follows([ev("removed", c, b) for _ in range(3)], svc)
    assert await counts(svc, b) == {"followers": 0, "following": 0}
    await follows([ev("added", c, b)], svc)
    assert await counts(svc, b) == {"followers": 1, "following": 0}


async def test_concurrent_batches_stay_exact(svc):
    """Two appliers on the same edges (as during a rebalance) must not double count."""
    star = uuid4()
    fans = [uuid4() for _ in range(40)]
    batch = [ev("added", f, star) for f in fans]
    await asyncio.gather(follows(batch, svc), follows(batch, svc), follows(list(reversed(batch)), svc))
    assert await counts(svc, star) == {"followers": 40, "following": 0}
    assert await counts(svc, fans[0]) == {"followers": 0, "following": 1}


async def test_unknown_event_types_never_reach_the_agent(svc):
    """The runner's decoder refuses a type the catalog does not list for the topic: a poison
    event for the dead letters (tests/platform/test_dead_letters.py), never a handler input."""
    a, b = uuid4(), uuid4()
    unknown = Event("follow.requested", {}, id=new_id())
    with pytest.raises(ValidationError) as exc:
        decoder(FOLLOWS)(unknown.to_bytes())
    assert poison_error(exc.value, FOLLOWS)["type"] == "UnknownEventType"
    await follows([ev("added", a, b)], svc)
    assert await counts(svc, b) == {"followers": 1, "following": 0}


async def test_lists_are_newest_first_and_the_keyset_is_stable_under_inserts(svc):
    star = uuid4()
    first = [uuid4() for _ in range(5)]
    for f in first:  # one batch each: distinct, increasing `since`
        await follows([ev("added", f, star)], svc)
    page1 = await svc.store.list_followers(star, after=None, limit=2)
    assert [link.user_id for link in page1] == first[::-1][:2]
    # Inserts between pages: new followers, and a refollow of someone already on page 1.
    late = [uuid4() for _ in range(3)]
    await follows([ev("added", f, star) for f in late], svc)
    await follows([ev("added", first[4], star)], svc)  # already active: keeps its place
    rest, after = [], page1[-1]
    while True:
        page = await svc.store.list_followers(star, after=after, limit=2)
        if not page:
            break
        rest += page
        after = page[-1]
    assert [link.user_id for link in page1 + rest] == first[::-1]  # no repeat, no skip
    top = await svc.store.list_followers(star, after=None, limit=3)
    assert {link.user_id for link in top} == set(late)
    following = await svc.store.list_following(first[0], after=None, limit=10)
    assert [link.user_id for link in following] == [star]
    # An unfollowed edge leaves the lists; a new follow comes back on top with a newer `since`.
    await follows([ev("removed", first[2], star)], svc)
    everyone = await svc.store.list_followers(star, after=None, limit=100)
    assert first[2] not in [link.user_id for link in everyone] and len(everyone) == 7
    await follows([ev("added", first[2], star)], svc)
    assert (await svc.store.list_followers(star, after=None, limit=1))[0].user_id == first[2]
    assert await svc.store.list_followers(star, after=FollowLink(uuid4(), UUID(int=0)), limit=5) == []


async def _account(svc) -> UUID:
    tag = uuid4().hex[:10]
    user = await users.register(svc, email=f"f{tag}@example.com", password="correct horse 1", username=f"f{tag}")
    return user.id


async def test_a_follow_racing_a_block_is_applied_as_a_removal(svc):
    """The API checked before the block committed; the agent must not let the follow through,
    and a redelivery after an unblock must not revive it."""
    a, b = await _account(svc), await _account(svc)
    racing = ev("added", b, a)
    await blocking.block(svc, blocker_id=a, target_id=b)
    await follows([racing], svc)
    assert not await svc.store.is_following(b, a)
    assert await counts(svc, a) == {"followers": 0, "following": 0}
    await blocking.unblock(svc, blocker_id=a, target_id=b)
    await follows([racing], svc)  # redelivered: already taken (as a removal)
    assert not await svc.store.is_following(b, a)
    await follows([ev("added", b, a)], svc)  # a new follow after the unblock counts
    assert await counts(svc, a) == {"followers": 1, "following": 0}


async def test_reconcile_repairs_follow_counters(svc, stack_env):
    a, b = uuid4(), uuid4()
    await follows([ev("added", a, b)], svc)
    async with svc.store.engine.begin() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute(
            "UPDATE user_counters SET count = 9 WHERE user_id = $1 AND kind = 'followers'", b
        )
    assert (await counts(svc, b))["followers"] == 9
    out = subprocess.run(
        [sys.executable, "-m", "jobs.reconcile_counters"],
        env=stack_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert await counts(svc, b) == {"followers": 1, "following": 0}


# ------------------------------------------------------------------ end to end, real broker


async def _counts(client, viewer, user_id) -> dict:
    r = await client.get(f"/users/{user_id}/follow-counts", headers=viewer["headers"])
    assert r.status_code == 200, r.text
    return r.json()


async def test_follow_through_the_broker_rest_and_graphql(client, worker):
    a, b, c = await register(client), await register(client), await register(client)
    bid = b["user"]["id"]
    headers = {**a["headers"], "Idempotency-Key": "follow-once"}
    first = await client.post(f"/users/{bid}/follow", headers=headers)
    retry = await client.post(f"/users/{bid}/follow", headers=headers)
    assert first.status_code == retry.status_code == 202
    assert first.json()["event_id"] == retry.json()["event_id"]
    gql = await client.post(
        "/graphql", headers=c["headers"], json={"query": f'mutation {{ follow(userId: "{bid}") {{ eventId }} }}'}
    )
    assert gql.json()["data"]["follow"]["eventId"]

    async def followers_is(n):
        return (await _counts(client, a, bid))["followers"] == n

    await wait_for(lambda: followers_is(2), what="two followers")
    assert await _counts(client, a, "me") == {"followers": 0, "following": 1}
    me = (
        await client.post(
            "/graphql", headers=a["headers"], json={"query": "{ me { followCounts { followers following } } }"}
        )
    ).json()
    assert me["data"]["me"]["followCounts"] == {"followers": 0, "following": 1}

    r = await client.get(f"/users/{bid}/followers?limit=1", headers=a["headers"])
    page1 = r.json()
    assert r.status_code == 200 and page1["items"][0]["user"] == {
        "id": c["user"]["id"],
        "username": c["user"]["username"],
    }
    r = await client.get(f"/users/{bid}/followers?limit=1&cursor={page1['next_cursor']}", headers=a["headers"])
    assert [i["user"]["id"] for i in r.json()["items"]] == [a["user"]["id"]] and r.json()["next_cursor"] is None
    r = await client.get(f"/users/{a['user']['id']}/following", headers=b["headers"])
    assert [i["user"]["id"] for i in r.json()["items"]] == [bid]

    q = (
        f'{{ followers(userId: "{bid}", limit: 5) {{ items {{ user {{ id username }} followedAt }} nextCursor }}'
        f'  followCounts(userId: "{bid}") {{ followers following }} }}'
    )
    data = (await client.post("/graphql", headers=b["headers"], json={"query": q})).json()["data"]
    assert {i["user"]["id"] for i in data["followers"]["items"]} == {a["user"]["id"], c["user"]["id"]}
    assert data["followCounts"] == {"followers": 2, "following": 0}

    assert (await client.delete(f"/users/{bid}/follow", headers=a["headers"])).status_code == 202
    await wait_for(lambda: followers_is(1), what="unfollow applied")


async def test_follow_refusals(client):
    a, b = await register(client), await register(client)
    me = a["user"]["id"]
    r = await client.post(f"/users/{me}/follow", headers=a["headers"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "cannot_follow_self"
    r = await client.post(f"/users/{uuid4()}/follow", headers=a["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
    r = await client.post("/users/not-a-uuid/follow", headers=a["headers"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_id"
    r = await client.get(f"/users/{me}/followers?cursor=garbage", headers=a["headers"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
    r = await client.get(f"/users/{uuid4()}/follow-counts", headers=a["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
    assert (await client.post(f"/users/{b['user']['id']}/follow")).status_code == 401
