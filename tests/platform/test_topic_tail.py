"""`make topic-tail`: a topic's last events for humans, against the real embedded broker."""

from __future__ import annotations

import asyncio
import logging
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra.settings import get_settings
from jobs import topic_tail
from models.core.events import Event
from models.core.topics import POSTS
from tests.support.broker import collect
from tests.support.factories import create_post, register


@pytest.fixture
def tail_env(stack_env, monkeypatch):
    """main() as `make topic-tail` runs it: the broker from KAFKA_BOOTSTRAP."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP", stack_env["KAFKA_BOOTSTRAP"])
    get_settings.cache_clear()
    level = logging.getLogger("aiokafka").level
    yield monkeypatch
    logging.getLogger("aiokafka").setLevel(level)  # main() quiets it for the whole process
    get_settings.cache_clear()


async def run_main(capsys, *argv: str) -> tuple[int, list[str], str]:
    capsys.readouterr()
    code = await asyncio.to_thread(topic_tail.main, list(argv))  # main runs its own event loop
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


async def test_prints_the_events_of_the_test_one_line_each(client, stack_env, tail_env, capsys):
    user = await register(client)
    captions = [f"tail-{uuid4().hex[:6]}" for _ in range(2)]
    post_ids = [await create_post(client, user, caption=c) for c in captions]
    # the outbox relay publishes after commit: wait until both are on the broker
    await collect(
        stack_env["KAFKA_BOOTSTRAP"], POSTS.name, lambda evs: {e["payload"]["post_id"] for e in evs} >= set(post_ids)
    )

    code, lines, err = await run_main(capsys, POSTS.name, "5")
    assert code == 0, err
    *events, summary, dead = lines  # every catalog topic has its <topic>.dlq (infra/kafka.ensure_topics)
    assert 2 <= len(events) <= 5 and summary.startswith(f"{POSTS.name}: the last {len(events)} of ")
    assert dead.startswith(f"{POSTS.name}.dlq: ") and dead.endswith(f"(make topic-tail TOPIC={POSTS.name}.dlq)")
    for post_id, caption in zip(post_ids, captions):
        (line,) = [x for x in events if f"key={post_id}" in x]
        where, ts, etype, key, payload = line.split("  ")
        partition, offset = where.split(":")
        assert partition.isdigit() and offset.isdigit() and ts.endswith("Z")
        assert etype == "post.created" and key == f"key={post_id}"
        assert f'"caption":"{caption}"' in payload and f'"post_id":"{post_id}"' in payload


async def test_a_value_that_is_not_an_event_and_the_dead_letters(stack_env, tail_env, capsys):
    bootstrap = stack_env["KAFKA_BOOTSTRAP"]
    topic = f"test.tail-{uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1), NewTopic(f"{topic}.dlq", 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)  # a batch: Tansu's ListOffsets falls short
    await producer.start()
    try:
        event = Event("post.created", {"post_id": "p1", "caption": "x"})
        sent = [await producer.send(topic, event.to_bytes(), key=b"p1") for _ in range(3)]
        sent.append(await producer.send(topic, b"\x00not json\n" * 50, key=b"garbage"))
        sent += [await producer.send(f"{topic}.dlq", b"dead") for _ in range(2)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()

    code, lines, err = await run_main(capsys, topic, "10")
    assert code == 0, err
    assert len([x for x in lines if "  post.created  key=p1  " in x]) == 3
    (raw,) = [x for x in lines if "key=garbage" in x]
    assert "  [not an event]  " in raw and raw.endswith("(500 bytes)") and "\n" not in raw
    assert lines[-2] == f"{topic}: the last 4 of 4 message(s), 2 partition(s)"
    assert lines[-1] == f"{topic}.dlq: 2 dead letter(s) (make topic-tail TOPIC={topic}.dlq)"

    code, lines, err = await run_main(capsys, f"{topic}.dlq")
    assert code == 0 and len([x for x in lines if '[not an event]  key=-  "dead"' in x]) == 2


async def test_unknown_topic_no_broker_and_usage_exit_2(stack_env, tail_env, capsys, tmp_path):
    code, _, err = await run_main(capsys, "no.such.topic")
    assert code == 2 and "no topic 'no.such.topic'" in err and POSTS.name in err
    code, _, err = await run_main(capsys, POSTS.name, "many")
    assert code == 2 and "usage: make topic-tail" in err
    tail_env.setenv("KAFKA_BOOTSTRAP", "")
    tail_env.setenv("VAR_DIR", str(tmp_path))  # no `make run` there
    get_settings.cache_clear()
    code, _, err = await run_main(capsys, POSTS.name)
    assert code == 2 and "no broker: set KAFKA_BOOTSTRAP" in err
