"""An outbox that never jams: a row the broker refuses is retried OUTBOX_MAX_ATTEMPTS times,
then set aside, and the rows behind it publish; `make outbox-retry` puts it back; a broker
outage counts no attempt.

The relay runs here against a database of its own (migrated from scratch), so the suite's API
relay cannot take these rows; it sends through a real producer to the suite's broker, on a topic
of its own that no agent reads."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
from types import SimpleNamespace
from uuid import uuid4

import asyncpg
import orjson
import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    InvalidTopicError,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    UnknownTopicOrPartitionError,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from infra.embedded import EmbeddedTansu, free_port
from infra.kafka import EventProducer, RecordRefused
from infra.outbox_relay import OutboxRelay
from infra.settings import Settings, get_settings
from models.core.base import utcnow
from models.core.errors import Unavailable
from models.core.outbox import OutboxRow
from tests.support.broker import collect
from tests.support.processes import REPO
from tests.support.waiting import wait_for

TOO_LARGE = b"x" * 1_100_000  # over the producer's max_request_size (1 MiB): refused every time


@pytest.fixture(scope="module")
def own_db(stack_env) -> str:
    """DATABASE_URL of a fresh database on the suite's PostgreSQL, migrated to head."""
    base = stack_env["DATABASE_URL"]
    name = f"outbox_{uuid4().hex[:8]}"

    async def create():
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    url = base.rsplit("/", 1)[0] + "/" + name
    subprocess.run(
        [sys.executable, "-m", "infra.migrate"],
        env={**stack_env, "DATABASE_URL": url},
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return url


@pytest_asyncio.fixture
async def sessions(own_db):
    engine = create_async_engine(Settings(DATABASE_URL=own_db).sqlalchemy_url)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as s, s.begin():
        await s.execute(OutboxRow.__table__.delete())
    yield maker
    await engine.dispose()


@pytest_asyncio.fixture
async def topic(stack_env) -> str:
    name = f"outbox-test-{uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack_env["KAFKA_BOOTSTRAP"])
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()
    return name


async def _producer(settings: Settings) -> EventProducer:
    producer = EventProducer(settings)
    producer.start()
    return producer


async def _stage(sessions: async_sessionmaker[AsyncSession], *rows: tuple[str, str, bytes]) -> list[int]:
    async with sessions() as s, s.begin():
        objs = [OutboxRow(topic=t, key=k, value=v) for t, k, v in rows]
        s.add_all(objs)
        await s.flush()
        return [o.id for o in objs]


async def _rows(sessions) -> dict[int, OutboxRow]:
    async with sessions() as s:
        return {r.id: r for r in (await s.execute(select(OutboxRow))).scalars()}


def _value(marker: str) -> bytes:
    return orjson.dumps({"type": "test.outbox", "payload": {"marker": marker}})


async def test_a_refused_row_is_set_aside_and_the_rows_behind_it_publish(sessions, topic, stack_env, caplog):
    max_attempts = get_settings().outbox_max_attempts
    producer = await _producer(get_settings())
    try:
        await wait_for(lambda: producer.ready, timeout=15, what="producer connected")
        relay = OutboxRelay(sessions, producer, max_attempts=max_attempts)
        run = uuid4().hex[:6]
        good1, bad, same_key, good3 = await _stage(
            sessions,
            (topic, "a", _value(f"{run}-1")),
            (topic, "b", TOO_LARGE),
            (topic, "b", _value(f"{run}-2")),  # staged after the bad row, same key: waits for it
            (topic, "c", _value(f"{run}-3")),
        )
        caplog.set_level(logging.INFO, logger="infra.outbox_relay")

        assert await relay.relay_once() == 2  # the two good rows of other keys left
        rows = await _rows(sessions)
        assert set(rows) == {bad, same_key}
        assert rows[bad].attempts == 1 and rows[bad].failed_at is None
        assert "MessageSizeTooLarge" in (rows[bad].last_error or "")
        assert rows[same_key].attempts == 0  # held back, not counted

        for _ in range(max_attempts - 2):
            assert await relay.relay_once() == 0
        rows = await _rows(sessions)
        assert rows[bad].attempts == max_attempts - 1 and rows[bad].failed_at is None and same_key in rows

        assert await relay.relay_once() == 1  # the last attempt sets it aside
        rows = await _rows(sessions)
        assert rows[bad].attempts == max_attempts and rows[bad].failed_at is not None
        assert await relay.relay_once() == 1  # the row of its key is not blocked any more
        rows = await _rows(sessions)
        assert set(rows) == {bad} and rows[bad].failed_at is not None
        assert await relay.relay_once() == 0  # a set-aside row is skipped
        assert (await _rows(sessions))[bad].attempts == max_attempts

        want = {f"{run}-1", f"{run}-2", f"{run}-3"}
        found = await collect(
            stack_env["KAFKA_BOOTSTRAP"], topic, lambda evs: want <= {e["payload"]["marker"] for e in evs}
        )
        assert want <= {e["payload"]["marker"] for e in found}
        assert good1 not in rows and good3 not in rows

        errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "infra.outbox_relay"]
        assert len(errors) == 1
        assert errors[0].topic == topic and errors[0].key == "b" and "MessageSizeTooLarge" in errors[0].error
        assert not any("xxxxxxxx" in r.getMessage() or "xxxxxxxx" in str(r.__dict__) for r in caplog.records)
    finally:
        await producer.stop()


class _AiokafkaStub:
    """An AIOKafkaProducer whose send raises `error` (the embedded broker creates any topic it is
    asked for, so a missing topic cannot be produced against it); its broker answers metadata
    requests or not."""

    def __init__(self, error: Exception, answers: bool):
        self.error = error
        self.client = SimpleNamespace(force_metadata_update=self._metadata(answers))

    @staticmethod
    def _metadata(answers: bool):
        async def update() -> bool:
            return answers

        return update

    async def send(self, topic, value, key=None):
        raise self.error


@pytest.mark.parametrize(
    ("error", "answers", "raised"),
    [
        (UnknownTopicOrPartitionError(), True, RecordRefused),  # the broker answers: no such topic
        (UnknownTopicOrPartitionError(), False, Unavailable),  # the broker is silent
        (MessageSizeTooLargeError(), False, RecordRefused),
        (InvalidTopicError(), True, RecordRefused),
        (ValueError("bad key"), True, RecordRefused),
        (KafkaConnectionError(), True, Unavailable),
        (KafkaTimeoutError(), True, Unavailable),
        (NotLeaderForPartitionError(), True, Unavailable),
    ],
)
async def test_send_many_tells_a_refused_record_from_a_broker_outage(error, answers, raised):
    producer = EventProducer(Settings(KAFKA_SEND_TIMEOUT=1))
    producer._producer = _AiokafkaStub(error, answers)
    with pytest.raises(raised):
        await producer.send_many([("posts", "k", b"{}")])


async def test_outbox_retry_puts_set_aside_rows_back(sessions, topic, own_db, stack_env):
    async with sessions() as s, s.begin():
        s.add_all(
            [
                OutboxRow(topic=topic, key="k", value=TOO_LARGE, attempts=5, failed_at=utcnow(), last_error="refused"),
                OutboxRow(topic="other", key="k", value=b"{}", attempts=5, failed_at=utcnow(), last_error="refused"),
            ]
        )

    def job(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "jobs.outbox_retry", *args],
            env={**stack_env, "DATABASE_URL": own_db},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert re.search(rf"1 set-aside row\(s\) of topic {topic} pending again", job(topic))
    rows = {r.topic: r for r in (await _rows(sessions)).values()}
    assert rows[topic].failed_at is None and rows[topic].attempts == 0
    assert rows["other"].failed_at is not None
    assert re.search(r"1 set-aside row\(s\) pending again", job())
    assert all(r.failed_at is None for r in (await _rows(sessions)).values())
    assert re.search(r"0 set-aside row\(s\) pending again", job())


async def test_a_broker_outage_counts_no_attempt(sessions, topic):
    # A producer that never connects: every send is Unavailable (the broker is down).
    producer = await _producer(get_settings().model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"}))
    try:
        relay = OutboxRelay(sessions, producer, max_attempts=2)
        ids = await _stage(sessions, (topic, "b", TOO_LARGE), (topic, "c", _value("outage")))
        for _ in range(4):
            with pytest.raises(Unavailable):
                await relay.relay_once()
        rows = await _rows(sessions)
        assert set(rows) == set(ids)
        assert all(r.attempts == 0 and r.failed_at is None and r.last_error is None for r in rows.values())
    finally:
        await producer.stop()


async def test_a_broker_that_stops_answering_counts_no_attempt(sessions, stack_env, log_dir):
    """A connected producer whose broker then stops: sends time out, a topic it has not seen yet
    cannot be resolved; nothing is counted, and everything publishes once the broker is back."""
    broker = EmbeddedTansu(free_port(), log_path=log_dir / "outbox-outage-tansu.log")
    broker.start()
    producer = None
    try:
        topics = [f"outbox-test-{uuid4().hex[:8]}" for _ in range(2)]
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(t, 1, 1) for t in topics])
        finally:
            await admin.close()
        settings = get_settings().model_copy(update={"kafka_bootstrap": broker.bootstrap, "kafka_flavor": "tansu"})
        producer = await _producer(settings)
        await wait_for(lambda: producer.ready, timeout=20, what="producer connected")
        relay = OutboxRelay(sessions, producer, max_attempts=1)  # one counted attempt would set a row aside
        await _stage(sessions, (topics[0], "a", _value("before")))
        assert await relay.relay_once() == 1

        broker.stop()
        ids = await _stage(sessions, (topics[0], "a", _value("during")), (topics[1], "b", _value("unseen topic")))
        for _ in range(2):
            with pytest.raises(Unavailable):
                await relay.relay_once()
        rows = await _rows(sessions)
        assert set(rows) == set(ids)
        assert all(r.attempts == 0 and r.failed_at is None for r in rows.values())

        broker.start()

        async def drained():
            try:
                await relay.relay_once()
            except Unavailable:
                return False
            return not await _rows(sessions)

        await wait_for(drained, timeout=60, interval=0.5, what="the outbox drained after the broker came back")
    finally:
        if producer:
            await producer.stop()
        broker.stop()


async def test_metrics_show_set_aside_rows_and_ready_stays_green(client, worker, db):
    """On the suite's API and database: a set-aside row shows in /metrics, and /health/ready stays 200."""
    row_id = await db.fetchval(
        "INSERT INTO outbox (topic, key, value, created_at, attempts, failed_at, last_error)"
        " VALUES ('posts', $1, $2, now(), 5, now(), 'refused') RETURNING id",
        f"set-aside-{uuid4().hex[:6]}",
        TOO_LARGE,
    )
    try:
        text = (await client.get("/metrics")).text
        set_aside = re.search(r"^daira_outbox_set_aside (\S+)$", text, re.M)
        assert set_aside and float(set_aside.group(1)) >= 1, text[-2000:]
        assert re.search(r"^daira_outbox_oldest_pending_seconds \d", text, re.M)
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
    finally:
        await db.execute("DELETE FROM outbox WHERE id = $1", row_id)
