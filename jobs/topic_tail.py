"""Print a topic's last events for humans: `make topic-tail TOPIC=… [N=20]` /
`python -m jobs.topic_tail TOPIC [N]`.

One line per message, oldest first: `partition:offset  time (UTC)  type  key=…  payload` with the
payload as compact JSON. A value that is not an event envelope is shown raw (truncated) after the
marker `[not an event]`. Then one summary line, and the number of dead letters when a
`<TOPIC>.dlq` topic exists (read them with `make topic-tail TOPIC=<TOPIC>.dlq`).

Broker: KAFKA_BOOTSTRAP, else the one of a running `make run` (var/stack.env). It reads without a
consumer group (nothing is committed, no agent is disturbed). Exit codes: 0 printed, 2 usage, no
broker, or no such topic.

The end of each partition is the high watermark of a Fetch response, not ListOffsets, which the
embedded Tansu broker answers with the last batch's base offset + 1 (streams/compat.py).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from infra.embedded import ServiceError
from infra.settings import get_settings
from jobs.environment import kafka_bootstrap
from models.core import topics as catalog

NAME = "topic-tail"
DEFAULT_N = 20
RAW_CHARS = 200  # of a value that is not an event envelope
TIMEOUT = 15.0  # seconds for the whole read; a partition not read by then is reported


@dataclass
class Tail:
    records: list[ConsumerRecord] = field(default_factory=list)
    total: int = 0  # offsets in the log (end - start), summed over the partitions
    partitions: int = 0
    unfinished: list[int] = field(default_factory=list)  # partitions not read to their end in time


def envelope(value: bytes | None) -> dict[str, Any] | None:
    """The decoded event envelope, or None when `value` is not one."""
    if value is None:
        return None
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if isinstance(event, dict) and isinstance(event.get("type"), str) and isinstance(event.get("payload"), dict):
        return event
    return None


def raw(value: bytes | None) -> str:
    if value is None:
        return "null (a tombstone)"
    text = value.decode("utf-8", "replace")
    shown = orjson.dumps(text[:RAW_CHARS]).decode()  # one line, control characters escaped
    return shown + (f" … ({len(value)} bytes)" if len(text) > RAW_CHARS else "")


def line(rec: ConsumerRecord) -> str:
    ts = datetime.fromtimestamp(rec.timestamp / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    key = rec.key.decode("utf-8", "replace") if rec.key is not None else "-"
    where = f"{rec.partition}:{rec.offset}"
    event = envelope(rec.value)
    if event is None:
        return f"{where}  {ts}  [not an event]  key={key}  {raw(rec.value)}"
    return f"{where}  {ts}  {event['type']}  key={key}  {orjson.dumps(event['payload']).decode()}"


async def read_tail(consumer: AIOKafkaConsumer, topic: str, partitions: set[int], n: int, deadline: float) -> Tail:
    """The last `n` messages of each partition of `topic` (assigned to `consumer`, which has no
    group), merged by time and cut to the last `n`, and the number of messages in the log."""
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    out = Tail(partitions=len(tps))
    if not tps:
        return out
    begin = await consumer.beginning_offsets(tps)
    listed = await consumer.end_offsets(tps)  # on Tansu possibly short of the end: corrected below
    start = {tp: max(begin[tp], listed[tp] - max(n, 1)) for tp in tps if listed[tp] > begin[tp]}
    if not start:
        return out
    consumer.assign(list(start))
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    kept: dict[TopicPartition, list[ConsumerRecord]] = {tp: [] for tp in start}
    ends = dict(listed)
    pending = set(start)
    loop = asyncio.get_running_loop()
    while pending and loop.time() < deadline:
        for tp, recs in (await consumer.getmany(*pending, timeout_ms=200)).items():
            kept[tp] = (kept[tp] + recs)[-n:] if n else []
        for tp in list(pending):
            high = consumer.highwater(tp)  # known after the partition's first fetch
            if high is not None and await consumer.position(tp) >= high:
                ends[tp] = high
                pending.discard(tp)
                consumer.pause(tp)
    out.unfinished = sorted(tp.partition for tp in pending)
    out.total = sum(ends[tp] - begin[tp] for tp in tps)
    merged = sorted((r for recs in kept.values() for r in recs), key=lambda r: (r.timestamp, r.partition, r.offset))
    out.records = merged[-n:] if n else []
    return out


async def tail(bootstrap: str, topic: str, n: int, out=None) -> int:
    out = out or sys.stdout
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,  # Tansu answers a waiting fetch only when the wait ends
        request_timeout_ms=10000,
    )
    try:
        await asyncio.wait_for(consumer.start(), 10)
    except (TimeoutError, KafkaError, OSError) as exc:
        await consumer.stop()
        print(f"{NAME}: no broker answered at {bootstrap} ({exc!r})", file=sys.stderr)
        return 2
    try:
        topics = await consumer.topics()
        if topic not in topics:
            known = ", ".join(sorted(t for t in topics if not t.startswith("__"))) or "none"
            print(f"{NAME}: no topic {topic!r} at {bootstrap}; its topics: {known}", file=sys.stderr)
            return 2
        dlq = catalog.dlq_name(topic)
        dlq = dlq if dlq in topics and not topic.endswith(".dlq") else None
        # now: the metadata of every topic is known; an assignment narrows it to the assigned ones
        partitions = {t: consumer.partitions_for_topic(t) or set() for t in (topic, dlq) if t}
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        got = await read_tail(consumer, topic, partitions[topic], n, deadline)
        for rec in got.records:
            print(line(rec), file=out)
        summary = f"{topic}: the last {len(got.records)} of {got.total} message(s), {got.partitions} partition(s)"
        if got.unfinished:
            summary += f"; partition(s) {got.unfinished} not read to their end within {TIMEOUT:.0f}s"
        print(summary, file=out)
        if dlq:
            dead = await read_tail(consumer, dlq, partitions[dlq], 0, deadline)
            print(f"{dlq}: {dead.total} dead letter(s) (make topic-tail TOPIC={dlq})", file=out)
        return 0
    finally:
        await consumer.stop()


def main(argv: list[str]) -> int:
    topic = argv[0].strip() if argv else ""
    count = argv[1].strip() if len(argv) > 1 and argv[1].strip() else str(DEFAULT_N)
    if not topic or not count.isdigit() or len(argv) > 2:
        print(f"usage: make topic-tail TOPIC=name [N={DEFAULT_N}]", file=sys.stderr)
        return 2
    try:
        bootstrap = kafka_bootstrap(get_settings())
    except ServiceError as exc:
        print(f"{NAME}: {exc}", file=sys.stderr)
        return 2
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # our own message says what failed
    return asyncio.run(tail(bootstrap, topic, int(count)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
