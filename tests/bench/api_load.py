"""HTTP-side figures: the API's accept rate for reactions under 64 concurrent connections, and
the end-to-end latency POST /interactions/reactions -> websocket `counter.updated`."""

from __future__ import annotations

import asyncio
import random
import time
from uuid import uuid4

import aiohttp
import orjson

TYPES = ("like", "love", "laugh", "wow", "sad", "angry")
_JSON = {"Content-Type": "application/json"}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def register_users(base: str, n: int, concurrency: int = 8) -> list[dict]:
    sem = asyncio.Semaphore(concurrency)

    async def one(session):
        tag = uuid4().hex[:12]
        async with (
            sem,
            session.post(
                f"{base}/auth/register",
                json={"email": f"b{tag}@example.com", "password": "bench password 1", "username": f"b{tag}"},
            ) as r,
        ):
            body = await r.json()
            if r.status != 201:
                raise RuntimeError(f"register: {r.status} {body}")
            return {
                "id": body.get("user", {}).get("id"),
                "token": body["access_token"],
                "headers": {"Authorization": f"Bearer {body['access_token']}"},
            }

    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*(one(session) for _ in range(n)))


async def create_posts(base: str, users: list[dict], n: int) -> list[str]:
    async with aiohttp.ClientSession() as session:
        out = []
        for i in range(n):
            async with session.post(
                f"{base}/posts",
                json={"caption": f"bench {i}", "visibility": "public"},
                headers=users[i % len(users)]["headers"],
            ) as r:
                body = await r.json()
                if r.status != 201:
                    raise RuntimeError(f"create post: {r.status} {body}")
                out.append(body["id"])
        return out


async def accept_rate(
    base: str,
    users: list[dict],
    posts: list[str],
    *,
    connections: int = 64,
    seconds: float = 10.0,
    warmup: float = 1.5,
    unlike: float = 0.1,
) -> dict:
    """`connections` clients send reactions back to back; figures over `seconds` after a warmup."""
    url = f"{base}/interactions/reactions"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    rnd = random.Random(11)
    loop = asyncio.get_running_loop()
    start = loop.time()
    t_measure, t_stop = start + warmup, start + warmup + seconds

    async def client(session):
        nonlocal errors
        while True:
            t = loop.time()
            if t >= t_stop:
                return
            u, p = rnd.choice(users), rnd.choice(posts)
            body = orjson.dumps({"post_id": p, "type": rnd.choice(TYPES)})
            method = session.delete if rnd.random() < unlike else session.post
            try:
                async with method(url, data=body, headers={**u["headers"], **_JSON}) as r:
                    await r.read()
                    status = r.status
            except (TimeoutError, aiohttp.ClientError):
                status = -1
            done = loop.time()
            if t >= t_measure and done <= t_stop:
                latencies.append(done - t)
                statuses[status] = statuses.get(status, 0) + 1

    conn = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=30)) as session:
        await asyncio.gather(*(client(session) for _ in range(connections)))
    total = sum(statuses.values())
    accepted = statuses.get(202, 0)
    return {
        "requests": total,
        "accepted": accepted,
        "non_202": total - accepted,
        "statuses": statuses,
        "seconds": seconds,
        "rate": accepted / seconds,
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
        "connections": connections,
    }


async def e2e_latency(
    base: str, users: list[dict], posts: list[str], warm_post: str, n: int = 300, push_timeout: float = 5.0
) -> dict:
    """Sequential likes, each by a user who has not liked that post yet (so every like moves a
    counter): time from sending the POST to receiving its `counter.updated` push."""
    url = f"{base}/interactions/reactions"
    ws_url = base.replace("http", "ws", 1) + f"/ws?token={users[0]['token']}"
    queue: asyncio.Queue = asyncio.Queue()
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        first = orjson.loads((await ws.receive()).data)
        if first.get("type") != "authenticated":
            raise RuntimeError(f"websocket: {first}")
        for p in [warm_post, *posts]:
            await ws.send_str(orjson.dumps({"type": "subscribe", "topic": f"post:{p}"}).decode())
            msg = orjson.loads((await ws.receive()).data)
            if msg != {"type": "subscribed", "topic": f"post:{p}"}:
                raise RuntimeError(f"subscribe: {msg}")

        async def reader():
            async for m in ws:
                if m.type == aiohttp.WSMsgType.TEXT:
                    queue.put_nowait((time.perf_counter(), orjson.loads(m.data)))

        async def wait_push(post_id: str, likes: int, timeout: float) -> float | None:
            deadline = time.perf_counter() + timeout
            while (left := deadline - time.perf_counter()) > 0:
                try:
                    at, msg = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    return None
                if (
                    msg.get("type") == "counter.updated"
                    and msg.get("post_id") == post_id
                    and msg["counters"]["likes"] >= likes
                ):
                    return at
            return None

        read_task = asyncio.create_task(reader())
        try:
            # Warm-up: the worker first drains whatever the load phase left on the topic.
            async with session.post(url, json={"post_id": warm_post}, headers=users[0]["headers"]) as r:
                if r.status != 202:
                    raise RuntimeError(f"warm-up like: {r.status} {await r.text()}")
            if await wait_push(warm_post, 1, 120.0) is None:
                raise RuntimeError("no push for the warm-up like within 120 s")
            for i in range(1, min(10, len(users))):
                async with session.post(url, json={"post_id": warm_post}, headers=users[i]["headers"]) as r:
                    await r.read()
                await wait_push(warm_post, i + 1, push_timeout)
            while not queue.empty():
                queue.get_nowait()

            lat, post_lat, missed = [], [], 0
            for i in range(n):
                post_id, user = posts[i % len(posts)], users[i // len(posts)]
                t0 = time.perf_counter()
                async with session.post(url, json={"post_id": post_id}, headers=user["headers"]) as r:
                    await r.read()
                    if r.status != 202:
                        raise RuntimeError(f"like: {r.status}")
                post_lat.append(time.perf_counter() - t0)
                at = await wait_push(post_id, i // len(posts) + 1, push_timeout)
                if at is None:
                    missed += 1
                else:
                    lat.append(at - t0)
        finally:
            read_task.cancel()
    return {
        "likes": n,
        "pushes": len(lat),
        "missed": missed,
        "p50_ms": pct(lat, 50) * 1000,
        "p99_ms": pct(lat, 99) * 1000,
        "max_ms": max(lat) * 1000 if lat else float("nan"),
        "post_p50_ms": pct(post_lat, 50) * 1000,
    }
