"""Our topics stay readable and writable by a client other than ours: confluent-kafka (librdkafka),
the data team's usual one, against the real embedded broker, with the settings docs/agents.md
gives ("Reading topics with other clients")."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import NamedTuple
from uuid import UUID, uuid4

from aiokafka.partitioner import DefaultPartitioner
from confluent_kafka import Consumer, KafkaError, Producer

from models.core.events import Event, decoder, new_id
from models.core.topics import REACTIONS, USERS, validate_payload
from streams.agents.counters import counters
from tests.support.broker import collect
from tests.support.factories import register

ENVELOPE = {"id", "type", "version", "actor", "ts", "payload"}


class Message(NamedTuple):
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def consume_until(bootstrap: str, topic: str, want, timeout: float = 30.0) -> list[Message]:
    """confluent-kafka reads `topic` from its start in a fresh group until `want(found)` holds or
    `timeout` passes. Blocking: run it in a thread."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"third-party-{uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            # Tansu holds a JoinGroup for about half the session timeout (librdkafka's default
            # 45 s: the first message after ~23 s); 6 s: after ~3 s.
            "session.timeout.ms": 6000,
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    found: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not want(found):
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                continue
            found.append(Message(msg.partition(), msg.offset(), msg.key(), msg.value()))
    finally:
        consumer.close()
    return found


def produce(bootstrap: str, topic: str, key: str, value: bytes) -> tuple[int, int]:
    """confluent-kafka produces one message and waits for the broker's ack: (its partition, the
    topic's partition count). Blocking: run it in a thread."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            # librdkafka's default (consistent_random, CRC32) puts a key on another partition
            # than aiokafka and the Java client do (murmur2): per-key order would break.
            "partitioner": "murmur2_random",
        }
    )
    delivered: list = []
    producer.produce(topic, value=value, key=key.encode(), on_delivery=lambda err, msg: delivered.append((err, msg)))
    assert producer.flush(15) == 0, "not acknowledged within 15 s"
    ((err, msg),) = delivered
    assert err is None, err
    return msg.partition(), len(producer.list_topics(topic, timeout=10).topics[topic].partitions)


async def test_confluent_kafka_reads_our_events_as_plain_json(client, stack_env):
    user = await register(client)  # user.registered, relayed from the outbox after commit
    uid = user["user"]["id"]
    msgs = await asyncio.to_thread(
        consume_until, stack_env["KAFKA_BOOTSTRAP"], USERS.name, lambda ms: any(m.key == uid.encode() for m in ms)
    )
    mine = [m for m in msgs if m.key == uid.encode()]
    assert len(mine) == 1, f"user.registered of {uid} not read by confluent-kafka ({len(msgs)} other messages)"
    value = mine[0].value
    assert value is not None and value.startswith(b"{")  # plain JSON: no schema-registry framing
    event = json.loads(value)  # the standard library is enough
    assert set(event) == ENVELOPE
    assert event["type"] == "user.registered" and event["version"] == 1
    assert UUID(event["id"]).version == 7 and datetime.fromisoformat(event["ts"]).tzinfo is not None
    assert validate_payload(event["type"], event["payload"])["user_id"] == uid
    assert Event.from_dict(event).to_dict() == event


async def test_an_event_produced_by_confluent_kafka_reaches_our_agent(svc, stack_env):
    post, fan = uuid4(), uuid4()
    event = {
        "id": str(new_id()),
        "type": "reaction.added",
        "version": 1,
        "actor": str(fan),
        "ts": datetime.now(UTC).isoformat(),
        "payload": {"post_id": str(post), "user_id": str(fan), "type": "like"},
    }
    validate_payload(event["type"], event["payload"])
    partition, partitions = await asyncio.to_thread(
        produce, stack_env["KAFKA_BOOTSTRAP"], REACTIONS.name, str(post), json.dumps(event).encode()
    )
    # the partition aiokafka (the API's producer) picks for this key: the post's events stay in order
    assert partition == DefaultPartitioner()(str(post).encode(), list(range(partitions)), list(range(partitions)))
    # read with our consumer and applied by the counters agent's handler
    found = await collect(
        stack_env["KAFKA_BOOTSTRAP"], REACTIONS.name, lambda evs: any(e["id"] == event["id"] for e in evs)
    )
    ours = [e for e in found if e["id"] == event["id"]]
    assert ours == [event]
    await counters([decoder(REACTIONS)(json.dumps(e).encode()) for e in ours], svc)  # as the runner decodes
    assert (await svc.store.get_counters([post]))[post] == {"like": 1}
