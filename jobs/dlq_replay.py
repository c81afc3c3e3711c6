"""Put an agent's dead letters back on their source topics: `make dlq-replay AGENT=… [TOPIC=…]` /
`python -m jobs.dlq_replay AGENT [TOPIC]`.

Reads `<topic>.dlq` from its start (every catalog topic's, or only TOPIC's, a source topic), keeps
the dead letters of AGENT (a topic's dead letters are shared by the agents that read it) and
produces each one's original envelope to its source topic with its original key. The agent then
sees the event again, and so do the other agents of that topic: handlers are idempotent by event
id or entity version (a replayed like older than an applied unlike changes nothing), so replaying
is safe, also twice. A dead letter whose original value was not JSON is not replayed (it would only
come back): it is counted in the output.

Broker: KAFKA_BOOTSTRAP, else the one of a running `make run` (jobs.environment.kafka_bootstrap).
Exit codes: 0 done, 1 a dead-letter topic not read to its end in time, 2 usage or no broker.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from infra import logs
from infra.embedded import ServiceError
from infra.settings import get_settings
from jobs.environment import kafka_bootstrap
from jobs.topic_tail import read_tail
from models.core import topics as catalog

NAME = "dlq-replay"
TIMEOUT = 60.0  # seconds to read every dead-letter topic to its end
ALL = 2**62  # "every message" for read_tail


@dataclass
class Replayed:
    replayed: dict[str, int] = field(default_factory=dict)  # source topic -> dead letters replayed
    not_json: int = 0
    unfinished: list[str] = field(default_factory=list)  # dead-letter topics not read to their end

    @property
    def total(self) -> int:
        return sum(self.replayed.values())


async def replay(bootstrap: str, agent: str, sources: list[str] | None = None) -> Replayed:
    """Replay `agent`'s dead letters of `sources` (source topic names; None: every catalog topic)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=50
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await asyncio.wait_for(consumer.start(), 10)
    try:
        await asyncio.wait_for(producer.start(), 10)
        known = await consumer.topics()
        names = sources if sources is not None else [t.name for t in catalog.ALL]
        out = Replayed()
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        for source in names:
            dlq = catalog.dlq_name(source)
            if dlq not in known:
                continue
            got = await read_tail(consumer, dlq, consumer.partitions_for_topic(dlq) or set(), ALL, deadline)
            if got.unfinished:
                out.unfinished.append(dlq)
            sent = []
            for rec in sorted(got.records, key=lambda r: (r.partition, r.offset)):
                try:
                    letter = orjson.loads(rec.value)
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(letter, dict) or letter.get("agent") != agent:
                    continue
                if letter.get("format") != "json":
                    out.not_json += 1
                    continue
                value = orjson.dumps(letter["envelope"])
                sent.append(await producer.send(letter.get("topic") or source, value, key=rec.key))
            await asyncio.wait_for(asyncio.gather(*sent), 30)
            if sent:
                out.replayed[source] = len(sent)
        return out
    finally:
        await producer.stop()
        await consumer.stop()


def report(agent: str, got: Replayed) -> str:
    where = ", ".join(f"{n} to {t}" for t, n in got.replayed.items()) or "none found"
    line = f"{NAME}: replayed {got.total} dead letter(s) of agent {agent!r} ({where})"
    if got.not_json:
        line += f"; {got.not_json} not replayed (the original value was not JSON)"
    if got.unfinished:
        line += f"; not read to their end within {TIMEOUT:.0f}s: {', '.join(got.unfinished)}"
    return line


def main(argv: list[str]) -> int:
    agent = argv[0].strip() if argv else ""
    topic = argv[1].strip() if len(argv) > 1 else ""
    if not agent or len(argv) > 2:
        print("usage: make dlq-replay AGENT=name [TOPIC=source topic]", file=sys.stderr)
        return 2
    settings = get_settings()
    logs.setup(settings.log_level, service="jobs")
    try:
        bootstrap = kafka_bootstrap(settings)
    except ServiceError as exc:
        print(f"{NAME}: {exc}", file=sys.stderr)
        return 2
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    sources = [topic.removesuffix(".dlq")] if topic else None
    try:
        got = asyncio.run(replay(bootstrap, agent, sources))
    except (TimeoutError, KafkaError, OSError) as exc:
        print(f"{NAME}: no broker answered at {bootstrap} ({exc!r})", file=sys.stderr)
        return 2
    print(report(agent, got))
    return 1 if got.unfinished else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
