"""Realtime fan-out through the Socket.IO and GraphQL-subscription faces, side by side with the
/ws figures of tests/bench/realtime.py: N sockets of one face subscribed to one post, spread
round-robin over the given API processes, one like -> every socket pushed. Figures: p50/p99/max
from the POST to each socket's push, and the ratio of p50 to the push to a single subscriber in
the same run.

    python -m tests.bench.realtime_faces [--n 200]   # its own embedded stack, 2 API processes

`run_faces(base_urls, n)` needs running API processes and a worker (make bench calls it).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import uuid4

import httpx
import orjson
import socketio
import websockets

SOCKETS_PER_USER = 5  # under the core's sockets-per-user cap
Arrivals = Callable[[str, asyncio.Queue], Awaitable[Callable[[], Awaitable[None]]]]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else float("nan")


async def _register(c: httpx.AsyncClient, base: str) -> dict:
    tag = uuid4().hex[:10]
    r = await c.post(
        f"{base}/auth/register",
        json={"email": f"b{tag}@example.com", "password": "correct horse 1", "username": f"b{tag}"},
    )
    r.raise_for_status()
    return r.json()


async def _socketio(base: str, token: str, post: str, arrived: asyncio.Queue):
    sio = socketio.AsyncClient(reconnection=False)

    @sio.on("counter.updated")
    async def pushed(data):
        arrived.put_nowait((time.perf_counter(), data))

    await sio.connect(base, auth={"token": token}, transports=["websocket"], wait_timeout=30)
    ack = await sio.call("subscribe", {"topic": f"post:{post}"}, timeout=30)
    if ack != {"ok": True}:
        raise RuntimeError(f"socket.io subscribe: {ack}")
    return sio.disconnect


async def _graphql(base: str, token: str, post: str, arrived: asyncio.Queue):
    ws = await websockets.connect(base.replace("http", "ws", 1) + "/graphql", subprotocols=["graphql-transport-ws"])
    await ws.send(orjson.dumps({"type": "connection_init", "payload": {"token": token}}).decode())
    if orjson.loads(await ws.recv())["type"] != "connection_ack":
        raise RuntimeError("graphql: no connection_ack")
    query = "subscription($p: ID!) { postCounters(postId: $p) { likes } }"
    await ws.send(
        orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"p": post}}}).decode()
    )
    # the server reads the next message once the subscription listens: a pong proves it
    await ws.send('{"type":"ping"}')
    if orjson.loads(await ws.recv())["type"] != "pong":
        raise RuntimeError("graphql: no pong")

    async def reader():
        async for raw in ws:
            msg = orjson.loads(raw)
            if msg.get("type") == "next":
                arrived.put_nowait((time.perf_counter(), msg["payload"]))

    task = asyncio.create_task(reader())

    async def close():
        task.cancel()
        await ws.close()

    return close


async def _push_latencies(
    c: httpx.AsyncClient, bases: list[str], liker: dict, post: str, arrived: asyncio.Queue, want: int, add: bool
) -> list[float]:
    """One like (or unlike): seconds from the POST to each of `want` pushes."""
    url = f"{bases[0]}/interactions/reactions"
    headers = {"Authorization": f"Bearer {liker['access_token']}"}
    t0 = time.perf_counter()
    r = await (
        c.post(url, json={"post_id": post}, headers=headers)
        if add
        else c.request("DELETE", url, json={"post_id": post}, headers=headers)
    )
    if r.status_code not in (200, 202, 204):
        raise RuntimeError(f"reaction: {r.status_code} {r.text}")
    out = []
    while len(out) < want:
        at, _ = await asyncio.wait_for(arrived.get(), 60)
        out.append(at - t0)
    return out


async def _face(name: str, connect: Arrivals, bases: list[str], n: int, users: list[dict], post: str, c, liker) -> dict:
    single_q: asyncio.Queue = asyncio.Queue()
    closers = [await connect(bases[0], users[0]["access_token"], post, single_q)]
    add = True
    singles = []
    for _ in range(5):  # a like, an unlike...: each moves the counter
        singles += await _push_latencies(c, bases, liker, post, single_q, 1, add)
        add = not add
    for close in closers:
        await close()

    fan_q: asyncio.Queue = asyncio.Queue()
    closers = []
    sem = asyncio.Semaphore(50)

    async def one(i: int):
        async with sem:
            closers.append(
                await connect(bases[i % len(bases)], users[i // SOCKETS_PER_USER]["access_token"], post, fan_q)
            )

    t = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    connect_s = time.perf_counter() - t
    fan = await _push_latencies(c, bases, liker, post, fan_q, n, add)
    await asyncio.sleep(0.5)
    dupes = fan_q.qsize()  # each socket pushed once: nothing more may come
    await asyncio.gather(*(close() for close in closers), return_exceptions=True)
    single_p50 = pct(singles, 50)
    return {
        "face": name,
        "sockets": n,
        "processes": len(bases),
        "connect_s": round(connect_s, 2),
        "p50_ms": round(pct(fan, 50) * 1000, 1),
        "p99_ms": round(pct(fan, 99) * 1000, 1),
        "max_ms": round(max(fan) * 1000, 1),
        "single_p50_ms": round(single_p50 * 1000, 1),
        "ratio_p50": round(pct(fan, 50) / single_p50, 2),
        "extra_pushes": dupes,
    }


async def run_faces(base_urls: list[str], n: int) -> list[dict]:
    """The fan-out of one like to `n` sockets per face (Socket.IO, then GraphQL subscriptions)."""
    async with httpx.AsyncClient(timeout=60) as c:
        author, liker = await _register(c, base_urls[0]), await _register(c, base_urls[0])
        r = await c.post(
            f"{base_urls[0]}/posts",
            json={"caption": "bench", "visibility": "public"},
            headers={"Authorization": f"Bearer {author['access_token']}"},
        )
        r.raise_for_status()
        post = r.json()["id"]
        users = await asyncio.gather(*(_register(c, base_urls[0]) for _ in range(-(-n // SOCKETS_PER_USER))))
        return [
            await _face("socket.io", _socketio, base_urls, n, users, post, c, liker),
            await _face("graphql-transport-ws", _graphql, base_urls, n, users, post, c, liker),
        ]


def main(argv: list[str] | None = None) -> int:
    from infra.dev import start_stack
    from tests.bench.stack import bench_env, own_env
    from tests.support.processes import REPO, Worker, start_api

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="daira-bench-rt-"))
    (tmp / "logs").mkdir()
    add, stop_stack = start_stack(tmp / "var", own_env(), preferred_ports=False)
    procs: list = []
    try:
        env = bench_env(own_env(), add, tmp / "var")
        subprocess.run(
            [sys.executable, "-m", "infra.migrate"], env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL
        )
        bases = []
        for _ in range(2):
            proc, base = start_api(env, tmp / "logs")
            procs.append(proc)
            bases.append(base)
        worker = Worker(env, tmp / "logs", bases[0])
        worker.start()
        procs.append(worker.proc)
        for row in asyncio.run(run_faces(bases, args.n)):
            print(orjson.dumps(row).decode())
    finally:
        for p in procs:
            p.stop()
        stop_stack()
    return 0


if __name__ == "__main__":
    sys.exit(main())
