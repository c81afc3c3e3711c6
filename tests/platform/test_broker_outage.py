"""Broker down -> 503 with Retry-After within 5 s, nothing half-written; broker back -> accepted again.
Uses its own broker and API so the rest of the suite keeps its broker."""

from __future__ import annotations

import time

import httpx
import pytest

from infra.embedded import EmbeddedTansu, free_port
from tests.support.processes import start_api


@pytest.fixture
def own_broker_api(stack_env, log_dir):
    broker = EmbeddedTansu(free_port(), log_path=log_dir / "outage-tansu.log")
    broker.start()
    proc, base = start_api(stack_env, log_dir, KAFKA_BOOTSTRAP=broker.bootstrap, KAFKA_FLAVOR="tansu")
    yield broker, base
    proc.stop()
    broker.stop()


def _register(c: httpx.Client) -> dict:
    tag = str(time.monotonic_ns())
    r = c.post(
        "/auth/register", json={"email": f"o{tag}@example.com", "password": "password-123", "username": f"o{tag}"}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_broker_stopped_then_back(own_broker_api):
    broker, base = own_broker_api
    with httpx.Client(base_url=base, timeout=20) as c:
        h = _register(c)
        post = c.post("/posts", json={"caption": "outage"}, headers=h).json()["id"]
        deadline = time.monotonic() + 20
        while c.post("/interactions/reactions", json={"post_id": post}, headers=h).status_code != 202:
            assert time.monotonic() < deadline, "API never accepted a write with the broker up"
            time.sleep(0.2)

        broker.stop()
        t0 = time.monotonic()
        r = c.post("/interactions/reactions", json={"post_id": post}, headers=h)
        elapsed = time.monotonic() - t0
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "unavailable"
        assert int(r.headers["Retry-After"]) >= 1
        assert elapsed < 5.0
        ready = c.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["kafka"]["ok"] is False

        broker.start()
        deadline = time.monotonic() + 30
        while True:
            r = c.post("/interactions/reactions", json={"post_id": post}, headers=h)
            if r.status_code == 202:
                break
            assert r.status_code == 503, r.text
            assert time.monotonic() < deadline, "API did not recover after the broker came back"
            time.sleep(0.5)
