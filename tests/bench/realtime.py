"""Sections 12-14, realtime (api/realtime/core.py, docs/realtime.md), with the worker running:

13. Fan-out: FANOUT /ws sockets subscribed to one post, spread over 2 API processes; one real like
    (POST /interactions/reactions -> broker -> counters agent -> Redis -> both hubs) -> every
    socket's `counter.updated`, timed from the POST. Repeated LIKES times; p50/p99/max over all
    (like, socket) pairs, against the same path to a single subscriber in the same run.
14. Memory per idle socket: the second API process's RSS before and after IDLE authenticated,
    unsubscribed sockets, divided by IDLE.
15. Logout -> close: POST /auth/logout on one API process to the 4403 close of the session's
    socket on the other.

The second API process is started here with a raised sockets-per-user cap (the sockets come from
a few users, 10 per user on the first process as its default cap allows). All clients run in
this one process, so the fan-out figures include the client reading 1,000 sockets.
"""

from __future__ import annotations

import asyncio
import time
from uuid import uuid4

import aiohttp
import orjson
import psutil
import uvloop
import websockets

from tests.bench.api_load import pct
from tests.support.processes import start_api

PER_USER = 10  # the default REALTIME_MAX_SOCKETS_PER_USER


def run(env: dict, log_dir, base: str, *, fanout: int = 1000, idle: int = 5000, likes: int = 5) -> dict:
    proc2, base2 = start_api(env, log_dir, REALTIME_MAX_SOCKETS_PER_USER="100000")
    try:
        return uvloop.run(_run(base, base2, psutil.Process(proc2.p.pid), fanout, idle, likes))
    finally:
        proc2.stop()


async def _run(base: str, base2: str, api2: psutil.Process, fanout: int, idle: int, likes: int) -> dict:
    async with aiohttp.ClientSession() as http:
        users = await _register(http, base, fanout // PER_USER + 2 * likes + 25)
        holders, likers, rest = (
            users[: fanout // PER_USER],
            users[fanout // PER_USER : fanout // PER_USER + 2 * likes],
            users[fanout // PER_USER + 2 * likes :],
        )
        author = rest.pop()
        crowd_post, single_post = await _post(http, base, author), await _post(http, base, author)

        single_ws = await _open(base, author["token"], single_post)
        crowd: list = []
        # half the sockets on each process; one user's sockets are split 5 + 5, within the cap of 10
        sem = asyncio.Semaphore(50)

        async def opened(i: int):
            async with sem:
                return await _open(base if i % 2 else base2, holders[i // PER_USER]["token"], crowd_post)

        crowd = list(await asyncio.gather(*(opened(i) for i in range(fanout))))
        single, fan, per_like = [], [], []
        for i in range(likes):
            single.append((await _like_and_wait(http, base, likers[2 * i], single_post, i + 1, [single_ws]))[0])
            got = await _like_and_wait(http, base, likers[2 * i + 1], crowd_post, i + 1, crowd)
            fan += got
            per_like.append((pct(got, 50) * 1000, max(got) * 1000))
        for ws in [single_ws, *crowd]:
            await ws.close()
        out: dict = {
            "sockets": fanout,
            "likes": likes,
            "p50_ms": pct(fan, 50) * 1000,
            "p99_ms": pct(fan, 99) * 1000,
            "max_ms": max(fan) * 1000,
            "single_p50_ms": pct(single, 50) * 1000,
            "per_like": per_like,
        }
        out["ratio_p50"], out["ratio_max"] = out["p50_ms"] / out["single_p50_ms"], out["max_ms"] / out["single_p50_ms"]

        # 14. memory per idle socket on the second process
        await asyncio.sleep(3)  # closes settled (presence, hub unsubscribes)
        before = api2.memory_info().rss
        tried = await asyncio.gather(
            *(_bounded(sem, _open(base2, holders[i % len(holders)]["token"])) for i in range(idle)),
            return_exceptions=True,
        )
        sockets = [ws for ws in tried if not isinstance(ws, BaseException)]
        await asyncio.sleep(3)
        after = api2.memory_info().rss
        out.update(idle=len(sockets), refused=idle - len(sockets), rss_before_mb=before / 2**20)
        out["rss_after_mb"], out["kib_per_socket"] = after / 2**20, (after - before) / len(sockets) / 1024
        await asyncio.gather(*(_bounded(sem, ws.close()) for ws in sockets))
        await asyncio.sleep(5)  # the server finishes 5,000 closes before the next figure

        # 15. logout (first process) -> the socket's close (second process)
        closes = []
        for u in rest[:20]:
            session = await _login(http, base, u)
            ws = await _open(base2, session["access_token"])
            t0 = time.perf_counter()
            async with http.post(
                f"{base}/auth/logout", headers={"Authorization": f"Bearer {session['access_token']}"}
            ) as r:
                if r.status != 204:
                    raise RuntimeError(f"logout: {r.status}")
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed:
                closes.append(time.perf_counter() - t0)
            if ws.close_code != 4403:
                raise RuntimeError(f"logout closed the socket with {ws.close_code}")
        out.update(logouts=len(closes), close_p50_ms=pct(closes, 50) * 1000, close_max_ms=max(closes) * 1000)
        return out


async def _bounded(sem: asyncio.Semaphore, coro):
    async with sem:
        return await coro


async def _register(http: aiohttp.ClientSession, base: str, n: int) -> list[dict]:
    sem = asyncio.Semaphore(8)

    async def one():
        tag = uuid4().hex[:12]
        body = {"email": f"rt{tag}@example.com", "password": "bench password 1", "username": f"rt{tag}"}
        async with sem, http.post(f"{base}/auth/register", json=body) as r:
            got = await r.json()
            if r.status != 201:
                raise RuntimeError(f"register: {r.status} {got}")
        return {**body, "token": got["access_token"]}

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def _login(http: aiohttp.ClientSession, base: str, u: dict) -> dict:
    async with http.post(f"{base}/auth/login", json={"email": u["email"], "password": u["password"]}) as r:
        if r.status != 200:
            raise RuntimeError(f"login: {r.status}")
        return await r.json()


async def _post(http: aiohttp.ClientSession, base: str, author: dict) -> str:
    headers = {"Authorization": f"Bearer {author['token']}"}
    async with http.post(f"{base}/posts", json={"caption": "rt", "visibility": "public"}, headers=headers) as r:
        if r.status != 201:
            raise RuntimeError(f"post: {r.status}")
        return (await r.json())["id"]


async def _open(base: str, token: str, post_id: str | None = None):
    ws = await websockets.connect(
        base.replace("http", "ws", 1) + "/ws", ping_interval=None, max_queue=64, open_timeout=60
    )
    await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
    if orjson.loads(await ws.recv())["type"] != "authenticated":
        raise RuntimeError("not authenticated")
    if post_id is not None:
        await ws.send(orjson.dumps({"type": "subscribe", "topic": f"post:{post_id}"}).decode())
        if orjson.loads(await ws.recv())["type"] != "subscribed":
            raise RuntimeError("not subscribed")
    return ws


async def _like_and_wait(http, base: str, liker: dict, post_id: str, want: int, sockets: list) -> list[float]:
    """POST one like; per socket, the seconds from the POST to its push showing `want` likes."""

    async def pushed(ws) -> float:
        while True:
            msg = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
            if msg.get("type") == "counter.updated" and msg["counters"]["likes"] >= want:
                return time.perf_counter() - t0

    t0 = time.perf_counter()
    waiting = [asyncio.ensure_future(pushed(ws)) for ws in sockets]
    headers = {"Authorization": f"Bearer {liker['token']}"}
    async with http.post(f"{base}/interactions/reactions", json={"post_id": post_id}, headers=headers) as r:
        if r.status != 202:
            raise RuntimeError(f"like: {r.status}")
    return list(await asyncio.gather(*waiting))


def report_lines(r: dict) -> list[str]:
    return [
        f"{'13. fan-out: 1 like -> ' + format(r['sockets'], ',') + ' ws p50 (ms)':<44}{r['p50_ms']:>16.1f}  "
        f"p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms over {r['likes']} likes x {r['sockets']:,} sockets "
        f"on 2 API processes; single subscriber p50 {r['single_p50_ms']:.1f} ms; ratio p50 "
        f"{r['ratio_p50']:.2f}x, max {r['ratio_max']:.2f}x (target <= 3x); each like p50/max: "
        + ", ".join(f"{a:.0f}/{b:.0f}" for a, b in r["per_like"])
        + " ms",
        f"{'14. memory per idle socket (KiB)':<44}{r['kib_per_socket']:>16.1f}  {r['idle']:,} sockets on one API "
        f"process: RSS {r['rss_before_mb']:.0f} -> {r['rss_after_mb']:.0f} MiB; {r['refused']} refused (unavailable)",
        f"{'15. logout -> socket closed p50 (ms)':<44}{r['close_p50_ms']:>16.1f}  max {r['close_max_ms']:.1f} ms, "
        f"{r['logouts']} logouts, logout on one API process, socket on the other",
    ]
