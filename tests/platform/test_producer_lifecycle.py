"""A producer stopped at any moment of its connecting leaves no open client behind
(short jobs stop it a few milliseconds after starting it)."""

from __future__ import annotations

import asyncio

import pytest

from infra import kafka
from infra.settings import get_settings


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.02, 0.1, 1.0])
async def test_stop_closes_every_client_it_opened(stack_env, monkeypatch, delay):
    opened = []

    class Recorded(kafka.AIOKafkaProducer):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            opened.append(self)

    monkeypatch.setattr(kafka, "AIOKafkaProducer", Recorded)
    producer = kafka.EventProducer(get_settings())
    producer.start()
    await asyncio.sleep(delay)
    await producer.stop()
    assert opened and all(p._closed for p in opened)
    assert not producer.ready
