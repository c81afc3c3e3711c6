from __future__ import annotations

import re

from tests.support.factories import create_post, register
from tests.support.processes import start_api
from tests.support.waiting import wait_for


async def test_ready_reports_every_dependency(client, worker):
    r = await client.get("/health/ready")
    assert r.status_code == 200, r.text
    checks = r.json()["checks"]
    assert set(checks) == {"postgres", "redis", "kafka", "worker"}
    assert all(c["ok"] for c in checks.values())
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/health/live")).status_code == 200


def test_ready_is_503_without_a_worker(stack_env, log_dir):
    """An API whose workers (its consumer-group prefix) never heartbeat is not ready."""
    import httpx

    # Another Redis database: no worker heartbeats there.
    redis_url = re.sub(r"/\d+$", "/7", stack_env["REDIS_URL"])
    proc, base = start_api(stack_env, log_dir, REDIS_URL=redis_url)
    try:
        r = httpx.get(f"{base}/health/ready", timeout=10)
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "not_ready" and body["checks"]["worker"]["ok"] is False
        assert body["checks"]["postgres"]["ok"] and body["checks"]["redis"]["ok"]
    finally:
        proc.stop()


async def test_metrics_expose_requests_events_and_lag(client, worker):
    user = await register(client)
    post = await create_post(client, user)
    assert (
        await client.post("/interactions/reactions", json={"post_id": post}, headers=user["headers"])
    ).status_code == 202

    consumed = re.compile(
        r'events_consumed_total\{(?=[^}]*agent="counters")(?=[^}]*topic="interactions.reactions")'
        r'[^}]*worker="[^"]+"[^}]*\} [1-9]'
    )

    async def scraped():
        text = (await client.get("/metrics")).text
        return text if consumed.search(text) and "agent_lag_events{" in text else None

    text = await wait_for(scraped, timeout=10, what="worker figures in /metrics")
    assert re.search(r'http_requests_total\{method="POST",route="/interactions/reactions",status="202"\} [1-9]', text)
    assert "http_request_duration_seconds_bucket" in text
    assert re.search(r'events_produced_total\{topic="interactions.reactions"\} [1-9]', text)
    assert re.search(r'worker_agent_joined\{agent="counters",worker="[^"]+"\} 1', text)
