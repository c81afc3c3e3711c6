"""Dead letters (streams/batch.py): an event the handler keeps failing on goes to `<topic>.dlq`
after AGENT_MAX_ATTEMPTS, a poison message (one that does not decode to a typed event of the topic)
at once; the rest of the batch is applied and the partition moves on; `make dlq-replay`
(jobs/dlq_replay.py) puts the dead letters back. Against the real broker."""

from __future__ import annotations

import asyncio
import time
from uuid import UUID, uuid4

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra.settings import Settings
from jobs import dlq_replay
from models.core.events import Event, Received
from models.core.topics import REACTIONS, ReactionPayload, Topic, dlq_name
from streams.agents.counters import counters
from streams.batch import BatchAgent, BatchRunner
from tests.support.broker import collect
from tests.support.waiting import wait_for

FAST = {"AGENT_MAX_ATTEMPTS": 2, "AGENT_RETRY_BACKOFF": 0.05, "AGENT_RETRY_BACKOFF_MAX": 0.1}


def reaction(kind: str, post: UUID, user: UUID) -> Event:
    return Event(f"reaction.{kind}", {"post_id": str(post), "user_id": str(user), "type": "like"}, actor=user)


async def new_topic(bootstrap: str) -> Topic:
    topic = Topic(f"test.dlq-{uuid4().hex[:8]}", key="post_id", events=REACTIONS.events, doc="a test topic")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic.name, 2, 1), NewTopic(dlq_name(topic), 2, 1)])
    finally:
        await admin.close()
    return topic


async def produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, value, key=key) for key, value in items])
    finally:
        await producer.stop()


async def dead_letters(bootstrap: str, topic: str, agent: str, n: int) -> list[dict]:
    def mine(found):
        return [d for d in found if d.get("agent") == agent]

    return mine(await collect(bootstrap, dlq_name(topic), lambda found: len(mine(found)) >= n, timeout=30))


@pytest.fixture
def settings(stack_env) -> Settings:
    return Settings(**FAST)


async def test_a_failing_event_is_dead_lettered_the_rest_applied_and_replay_applies_it(stack_env, settings, svc):
    bootstrap = stack_env["KAFKA_BOOTSTRAP"]
    topic = await new_topic(bootstrap)
    post, bad_user = uuid4(), uuid4()
    events = [reaction("added", post, uuid4()) for _ in range(4)]
    bad = reaction("added", post, bad_user)
    events = events[:2] + [bad] + events[2:] + [reaction("added", uuid4(), uuid4()) for _ in range(3)]
    applied: list[str] = []
    fixed = asyncio.Event()

    async def handler(batch: list[Received[ReactionPayload]], svc) -> None:
        if not fixed.is_set() and any(e.payload.user_id == bad_user for e in batch):
            raise RuntimeError("cannot handle this one")
        applied.extend(str(e.id) for e in batch)

    agent = BatchAgent(f"dlq_test_{uuid4().hex[:6]}", topic, handler)
    runner = BatchRunner(agent, svc, settings)  # svc: its producer writes the dead letters
    await runner.start()
    try:
        await produce(bootstrap, topic.name, [(e.payload["post_id"].encode(), e.to_bytes()) for e in events])
        good = {str(e.id) for e in events} - {str(bad.id)}
        await wait_for(lambda: good <= set(applied), what="the other events applied", timeout=30)
        [letter] = await dead_letters(bootstrap, topic.name, agent.name, 1)
        assert letter["envelope"] == orjson.loads(bad.to_bytes()) and letter["format"] == "json"
        assert letter["error"] == {"type": "RuntimeError", "message": "cannot handle this one"}
        assert letter["agent"] == agent.name and letter["topic"] == topic.name
        assert letter["attempts"] >= settings.agent_max_attempts  # the batch's tries (then alone, if not alone)
        assert isinstance(letter["partition"], int) and isinstance(letter["offset"], int)
        assert str(bad.id) not in applied
        await wait_for(lambda: runner.snapshot()["dead_letters"] == {topic.name: 1}, what="counted", timeout=10)
        assert runner.snapshot()["joined"]
        dead_at = runner.snapshot()["oldest_dead_letter_at"][topic.name]
        assert dead_at is not None and abs(dead_at - letter["dead_at"]) < 5

        fixed.set()  # the handler is fixed and deployed: replay
        got = await dlq_replay.replay(bootstrap, agent.name, [topic.name])
        assert got.replayed == {topic.name: 1} and got.not_json == 0
        assert dlq_replay.report(agent.name, got).startswith(
            f"dlq-replay: replayed 1 dead letter(s) of agent {agent.name!r}"
        )
        await wait_for(lambda: str(bad.id) in applied, what="the replayed event applied", timeout=30)
        await wait_for(
            lambda: runner.snapshot()["oldest_dead_letter_at"] == {topic.name: None},
            what="the dead letter resolved by its replay",
            timeout=10,
        )
    finally:
        await runner.stop()


async def test_poison_messages_go_to_the_dead_letters_at_once_and_the_partition_moves_on(stack_env, settings, svc):
    """Not JSON, not an envelope, a payload its catalog model refuses, a type the topic does not
    list: each is dead-lettered on its first decode (attempts 1), never handed to the handler, never
    retried; the valid event behind them is handled, typed, in one call, and the offsets move past."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP"]
    topic = await new_topic(bootstrap)
    post = uuid4()
    key = str(post).encode()
    invalid = Event("reaction.added", {"post_id": str(post), "type": "like"})  # no user_id
    no_ts = {k: v for k, v in orjson.loads(reaction("added", post, uuid4()).to_bytes()).items() if k != "ts"}
    unknown = Event("reaction.renamed", {"post_id": str(post)})
    valid = reaction("added", post, uuid4())
    calls: list[list[Received]] = []

    async def handler(batch: list[Received[ReactionPayload]], svc) -> None:
        calls.append(batch)

    agent = BatchAgent(f"dlq_test_{uuid4().hex[:6]}", topic, handler)
    runner = BatchRunner(agent, svc, settings)  # svc: its producer writes the dead letters
    await runner.start()
    try:
        poison = [b"not json {", invalid.to_bytes(), orjson.dumps(no_ts), unknown.to_bytes()]
        await produce(bootstrap, topic.name, [(key, v) for v in poison] + [(key, valid.to_bytes())])
        letters = await dead_letters(bootstrap, topic.name, agent.name, 4)
        await wait_for(lambda: calls, what="the valid event handled", timeout=30)
        [[got]] = calls  # one call, one event: the poison neither reached the handler nor caused a retry
        assert got.id == valid.id and got.type == "reaction.added"
        assert isinstance(got.payload, ReactionPayload) and got.payload.user_id == UUID(valid.payload["user_id"])
        assert got.payload.post_id == post and got.ts == valid.ts and got.actor == valid.actor

        assert [d["attempts"] for d in letters] == [1, 1, 1, 1]
        assert sorted(d["offset"] for d in letters) == [0, 1, 2, 3] and len({d["partition"] for d in letters}) == 1
        by_offset = {d["offset"]: d for d in letters}
        assert by_offset[0]["format"] == "text" and by_offset[0]["envelope"] == "not json {"
        assert by_offset[0]["error"]["type"] == "MalformedEnvelope"
        assert by_offset[1]["error"] == {"type": "ValidationError", "message": "payload.user_id: Field required"}
        assert by_offset[1]["envelope"]["id"] == str(invalid.id)
        assert by_offset[2]["error"]["type"] == "MalformedEnvelope" and by_offset[2]["envelope"] == no_ts
        assert "ts: Field required" in by_offset[2]["error"]["message"]
        assert (
            by_offset[3]["error"]["type"] == "UnknownEventType"
            and "reaction.renamed" in by_offset[3]["error"]["message"]
        )
        part = f"{topic.name}:{letters[0]['partition']}"
        await wait_for(lambda: runner.snapshot()["lag"].get(part) == 0, what="the partition committed", timeout=30)
        assert runner.snapshot()["malformed"] == 4 and runner.snapshot()["dead_letters"] == {topic.name: 4}

        got_back = await dlq_replay.replay(bootstrap, agent.name, [topic.name])
        assert got_back.not_json == 1 and got_back.replayed == {topic.name: 3}  # they come back as dead letters
    finally:
        await runner.stop()


async def test_a_replayed_like_older_than_an_applied_unlike_changes_nothing(stack_env, settings, svc):
    bootstrap = stack_env["KAFKA_BOOTSTRAP"]
    post, user = uuid4(), uuid4()
    like = reaction("added", post, user)
    unlike = reaction("removed", post, user)  # the newer event
    fixed = asyncio.Event()
    handled: set[str] = set()

    async def flaky_counters(batch: list[Received[ReactionPayload]], svc) -> None:
        if not fixed.is_set() and any(e.id == like.id for e in batch):
            raise RuntimeError("store refused the like")
        await counters(batch, svc)
        handled.update(str(e.id) for e in batch)

    agent = BatchAgent(f"dlq_counters_{uuid4().hex[:6]}", REACTIONS, flaky_counters)
    runner = BatchRunner(agent, svc, settings)
    await runner.start()
    try:
        key = str(post).encode()
        await produce(bootstrap, REACTIONS.name, [(key, like.to_bytes())])
        await dead_letters(bootstrap, REACTIONS.name, agent.name, 1)
        await produce(bootstrap, REACTIONS.name, [(key, unlike.to_bytes())])
        await wait_for(lambda: str(unlike.id) in handled, what="the unlike applied", timeout=30)
        assert (await svc.store.get_counters([post]))[post].get("like", 0) == 0

        fixed.set()
        got = await dlq_replay.replay(bootstrap, agent.name, [REACTIONS.name])
        # the like's letter (twice if a rebalance redelivered the failing batch: letters are at least once)
        assert list(got.replayed) == [REACTIONS.name] and got.replayed[REACTIONS.name] >= 1
        await wait_for(lambda: str(like.id) in handled, what="the replayed like handled", timeout=30)
        assert (await svc.store.get_counters([post]))[post].get("like", 0) == 0  # not resurrected
    finally:
        await runner.stop()


def test_the_api_exposes_the_dead_letters_of_the_worker_heartbeats():
    from prometheus_client import generate_latest
    from prometheus_client.core import CollectorRegistry

    from api.metrics import _WorkerFigures

    snapshot = BatchRunner(BatchAgent("x", (REACTIONS,), counters.handler), None, Settings()).snapshot()
    assert snapshot["dead_letters"] == {REACTIONS.name: 0}
    assert snapshot["oldest_dead_letter_at"] == {REACTIONS.name: None}
    labels = 'agent="x",topic="interactions.reactions",worker="w1"'

    def scrape(snap: dict) -> str:
        reg = CollectorRegistry(auto_describe=False)
        reg.register(_WorkerFigures({"w1": {"agents": {"x": snap}}}))
        return generate_latest(reg).decode()

    assert f"daira_dead_letter_oldest_seconds{{{labels}}} 0.0" in scrape(snapshot)
    snapshot["dead_letters"] = {REACTIONS.name: 3}
    snapshot["oldest_dead_letter_at"] = {REACTIONS.name: time.time() - 120}
    text = scrape(snapshot)
    assert f"daira_dead_letters_total{{{labels}}} 3.0" in text
    [age] = [float(line.split()[-1]) for line in text.splitlines() if line.startswith("daira_dead_letter_oldest")]
    assert 120 <= age < 180
