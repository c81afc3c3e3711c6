"""The API-side Kafka producer and topic administration.

The producer starts in the background and keeps retrying, so the API serves (and answers 503
for writes) while the broker is down, and recovers by itself when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTimestampError,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    PolicyViolationError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
    UnsupportedForMessageFormatError,
)

from infra.metrics import EVENTS_PRODUCE_FAILED, EVENTS_PRODUCED
from infra.settings import Settings
from models.core import topics as catalog
from models.core.errors import Unavailable
from models.core.events import Event

log = logging.getLogger(__name__)

# Errors about the record itself: sending the same record again is refused again, however
# healthy the broker is. Anything else (timeouts, connection and leadership errors) is the broker
# being unavailable.
REFUSALS: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,  # over the producer's max_request_size, or the broker's limit
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
    InvalidTopicError,
    TopicAuthorizationFailedError,
    InvalidTimestampError,
    UnsupportedForMessageFormatError,
    PolicyViolationError,
    ValueError,  # the producer rejected a key or value before sending it
    TypeError,
)


class RecordRefused(Exception):
    """A record of a send_many was refused for what it is (see REFUSALS), not because the broker
    is down; which one is not said (the outbox relay bisects to find it)."""


async def ensure_topics(settings: Settings, timeout: float = 10.0) -> None:
    """Create every topic of models.core.topics, and its `<topic>.dlq`, that the broker does not have (idempotent)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=int(timeout * 1000))
    await asyncio.wait_for(admin.start(), timeout)
    try:
        existing = set(await admin.list_topics())
        # every topic and its dead letters (`<topic>.dlq`, streams/batch.py), with as many partitions
        missing = [
            NewTopic(name, catalog.partitions(t, settings.kafka_partitions), settings.kafka_replication)
            for t in catalog.ALL
            for name in (t.name, catalog.dlq_name(t))
            if name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
            log.info("created topics", extra={"topics": [t.name for t in missing]})
    finally:
        await admin.close()


class EventProducer:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task | None = None

    @property
    def ready(self) -> bool:
        return self._producer is not None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._connect_forever())

    async def _connect_forever(self) -> None:
        cfg = self.settings
        while self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=cfg.kafka_bootstrap,
                acks="all",
                linger_ms=cfg.kafka_linger_ms,
                # Batches the broker has not taken within the send timeout expire rather than
                # linger: a 503 answer must not be followed by a late write much later.
                request_timeout_ms=int(cfg.kafka_send_timeout * 1000),
                retry_backoff_ms=100,
                metadata_max_age_ms=30000,
                enable_idempotence=False,
            )
            try:
                await asyncio.wait_for(producer.start(), cfg.kafka_send_timeout)
                await ensure_topics(cfg)
                self._producer = producer
                log.info("kafka producer connected", extra={"bootstrap": cfg.kafka_bootstrap})
            except (TimeoutError, KafkaError, OSError) as exc:
                log.warning("kafka not reachable, retrying", extra={"error": repr(exc)})
                await producer.stop()
                await asyncio.sleep(1)
            except asyncio.CancelledError:  # stopped while connecting (a short job): close it too
                await producer.stop()
                raise

    async def ping(self) -> None:
        """Raise unless the broker answers a metadata request now."""
        if self._producer is None:
            raise RuntimeError("producer not connected")
        if not await self._producer.client.force_metadata_update():
            raise RuntimeError("broker did not answer a metadata request")

    async def _answers(self) -> bool:
        try:
            await asyncio.wait_for(self.ping(), self.settings.kafka_send_timeout)
        except Exception:  # any failure means "not answering"
            return False
        return True

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._producer:
            await self._producer.stop()
            self._producer = None

    async def send(self, topic: str, key: str, event: Event) -> None:
        """Wait for the broker's ack (acks=all); Unavailable (-> 503) if none within the timeout."""
        if self._producer is None:
            EVENTS_PRODUCE_FAILED.labels(topic).inc()
            raise Unavailable("the event broker is not reachable; retry shortly", retry_after=2)
        try:
            await asyncio.wait_for(
                self._producer.send_and_wait(topic, event.to_bytes(), key=key.encode()),
                self.settings.kafka_send_timeout,
            )
        except (TimeoutError, KafkaError) as exc:
            EVENTS_PRODUCE_FAILED.labels(topic).inc()
            log.warning("produce failed", extra={"topic": topic, "error": repr(exc)})
            raise Unavailable(
                "the event broker did not acknowledge the write; retry with the same Idempotency-Key", retry_after=2
            ) from exc
        EVENTS_PRODUCED.labels(topic).inc()

    async def send_many(self, items: list[tuple[str, str | bytes | None, bytes]]) -> None:
        """Send pre-serialized (topic, key, value) records (a key as text, or as the raw bytes a
        consumed record carried): all acked, or RecordRefused (some
        record is refused whatever the broker's health), or Unavailable (the broker is down or did
        not acknowledge in time). On an exception some records may have been acked already."""
        if self._producer is None:
            raise Unavailable("the event broker is not reachable", retry_after=2)
        try:
            futs = [await self._producer.send(t, v, key=k.encode() if isinstance(k, str) else k) for t, k, v in items]
            await asyncio.wait_for(asyncio.gather(*futs), self.settings.kafka_send_timeout)
        except REFUSALS as exc:
            raise RecordRefused(repr(exc)) from exc
        except UnknownTopicOrPartitionError as exc:
            # aiokafka raises it both for a topic the broker does not have and for a broker that
            # did not answer within the timeout: only an answering broker makes it a refusal.
            if await self._answers():
                raise RecordRefused(repr(exc)) from exc
            raise Unavailable("the event broker is not reachable", retry_after=2) from exc
        except (TimeoutError, KafkaError) as exc:
            raise Unavailable("the event broker did not acknowledge", retry_after=2) from exc
        for t, _, _ in items:
            EVENTS_PRODUCED.labels(t).inc()
