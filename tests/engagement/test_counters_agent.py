"""The counters agent fed events directly (no broker), against the real PostgreSQL store and Redis."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from uuid import UUID, uuid4

import orjson
import pytest
from pydantic import ValidationError

from models.content.reactions import counters_channel
from models.core.events import Event, Received, decoder, new_id, received
from models.core.topics import REACTIONS
from models.engagement import ReactionChange, latest_per_edge
from streams.agents.counters import counters
from streams.batch import poison_error
from tests.support.processes import REPO


def ev(kind: str, post: UUID, user: UUID, rtype: str = "like", eid: UUID | None = None) -> Received:
    e = Event(
        f"reaction.{kind}", {"post_id": str(post), "user_id": str(user), "type": rtype}, actor=user, id=eid or new_id()
    )
    return received(e)


async def counts(svc, post: UUID) -> dict:
    return (await svc.store.get_counters([post]))[post]


async def test_duplicate_event_counts_once(svc):
    post, user = uuid4(), uuid4()
    like = ev("added", post, user)
    await counters([like], svc)
    await counters([like], svc)  # redelivered batch
    await counters([like, like], svc)  # duplicate within a batch
    assert await counts(svc, post) == {"like": 1}


async def test_like_unlike_like_in_one_batch_and_across_batches(svc):
    post, user = uuid4(), uuid4()
    seq = [ev("added", post, user), ev("removed", post, user), ev("added", post, user)]
    await counters(seq, svc)
    assert await counts(svc, post) == {"like": 1}
    await counters(seq, svc)  # the whole sequence redelivered
    assert await counts(svc, post) == {"like": 1}
    await counters([ev("removed", post, user)], svc)
    assert await counts(svc, post) == {"like": 0}


async def test_stale_event_is_ignored(svc):
    post, user = uuid4(), uuid4()
    old_like = ev("added", post, user)
    newer_unlike = ev("removed", post, user)
    await counters([newer_unlike], svc)
    await counters([old_like], svc)  # arrives late (a retry of an earlier request)
    assert await counts(svc, post) == {}  # never went above zero, nothing to count


async def test_remove_without_add_never_goes_negative(svc):
    post = uuid4()
    await counters([ev("removed", post, uuid4()) for _ in range(3)], svc)
    await counters([ev("added", post, uuid4())], svc)
    assert await counts(svc, post) == {"like": 1}


async def test_types_are_counted_separately_and_unknown_types_never_reach_the_agent(svc):
    post, user = uuid4(), uuid4()
    unknown = Event("reaction.renamed", {}, version=2)
    with pytest.raises(ValidationError) as exc:  # the runner's decoder: a poison event, dead-lettered
        decoder(REACTIONS)(unknown.to_bytes())
    assert poison_error(exc.value, REACTIONS)["type"] == "UnknownEventType"
    await counters([ev("added", post, user, "like"), ev("added", post, user, "love")], svc)
    assert await counts(svc, post) == {"like": 1, "love": 1}


async def test_changes_are_published_to_the_posts_channel(svc):
    post = uuid4()
    pubsub = svc.redis.pubsub()
    await pubsub.subscribe(counters_channel(post))
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    await counters([ev("added", post, uuid4()), ev("added", post, uuid4())], svc)
    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    await pubsub.aclose()
    body = orjson.loads(msg["data"])
    assert body == {
        "type": "counter.updated",
        "post_id": str(post),
        "counters": {"likes": 2, "loves": 0, "laughs": 0, "wows": 0, "sads": 0, "angries": 0},
    }


async def test_concurrent_batches_stay_exact(svc):
    """Two appliers on the same edges (as during a rebalance) must not double count."""
    post = uuid4()
    users = [uuid4() for _ in range(50)]
    batch = [ev("added", post, u) for u in users]
    await asyncio.gather(counters(batch, svc), counters(batch, svc), counters(list(reversed(batch)), svc))
    assert await counts(svc, post) == {"like": 50}


def test_latest_per_edge_keeps_the_newest_and_sorts():
    post, user = uuid4(), uuid4()
    a, b = new_id(), new_id()
    older = ReactionChange(post, user, "like", True, a)
    newer = ReactionChange(post, user, "like", False, b)
    assert latest_per_edge([newer, older]) == [newer]
    other = ReactionChange(post, uuid4(), "like", True, a)
    assert latest_per_edge([other, older]) == sorted([other, older], key=lambda c: c.edge)


async def test_reconcile_repairs_a_corrupted_counter(svc, stack_env):
    post = uuid4()
    await counters([ev("added", post, uuid4()) for _ in range(3)], svc)
    engine = svc.store.engine
    async with engine.begin() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute(
            "UPDATE post_counters SET count = 42 WHERE post_id = $1 AND kind = 'like'", post
        )
    assert await counts(svc, post) == {"like": 42}
    out = subprocess.run(
        [sys.executable, "-m", "jobs.reconcile_counters"],
        env=stack_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "counter(s) corrected" in out.stdout
    assert int(out.stdout.split("reconcile: ")[1].split()[0]) >= 1
    assert await counts(svc, post) == {"like": 3}
