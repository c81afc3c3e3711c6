from __future__ import annotations

import asyncio

from quart import Blueprint, Response
from quart_schema import document_response, hide
from sqlalchemy import text

from api import metrics
from api.auth import svc
from api.outputs.platform import HealthOut, ReadyOut
from infra import heartbeat

bp = Blueprint("health", __name__)


@bp.get("/health")
@document_response(HealthOut)
async def health():
    return {"status": "ok"}


@bp.get("/health/live")
@document_response(HealthOut)
async def live():
    """The process is up and its event loop answers."""
    return {"status": "alive"}


async def _check(name: str, coro, timeout: float = 2.0) -> tuple[str, dict]:
    try:
        detail = await asyncio.wait_for(coro, timeout)
        return name, {"ok": True, **(detail or {})}
    except Exception as exc:  # any failure means not ready; say which and why
        return name, {"ok": False, "error": repr(exc)[:200]}


async def _postgres():
    async with svc().sessions() as s:
        await s.execute(text("SELECT 1"))


async def _redis():
    await svc().redis.ping()


async def _kafka():
    await svc().producer.ping()


async def _worker():
    s = svc()
    workers = await heartbeat.live_workers(s.redis, s.settings.worker_heartbeat_ttl)
    joined = {
        w: st for w, st in workers.items() if st.get("agents") and all(a.get("joined") for a in st["agents"].values())
    }
    if not joined:
        raise RuntimeError("no stream worker has joined its consumer groups and heartbeated recently")
    return {"workers": sorted(joined)}


@bp.get("/health/ready")
@document_response(ReadyOut)
@document_response(ReadyOut, 503)
async def ready():
    """PostgreSQL, Redis, Kafka and at least one stream worker; 503 if any is not ready."""
    results = dict(
        await asyncio.gather(
            _check("postgres", _postgres()),
            _check("redis", _redis()),
            _check("kafka", _kafka()),
            _check("worker", _worker()),
        )
    )
    ok = all(r["ok"] for r in results.values())
    return {"status": "ready" if ok else "not_ready", "checks": results}, 200 if ok else 503


@bp.get("/metrics")
@hide
async def prometheus():
    body = await metrics.render(svc())
    return Response(body, content_type="text/plain; version=0.0.4; charset=utf-8")
