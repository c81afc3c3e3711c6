"""Realtime bench clients spread over several processes, so that reading 1,000 sockets is not one
Python process's work (tests/bench/realtime.py).

A client process (`python -m tests.bench.rt_clients`) reads one JSON line on stdin:
{"face": "ws" | "socket.io" | "graphql", "sockets": [[base_url, token, post_id | null], ...]},
opens every socket (subscribed to its post when one is given), prints {"ready": n, "cpu_s"}, and
records the wall-clock time (time.time(), one clock for every process of the machine) of every
push each socket receives. Then, for each line {"collect": i} it answers {"times": [...]} once
every socket has received its (i+1)-th push: the arrival time of that push on each socket, and
its own CPU seconds so far. An empty line or EOF closes everything.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from typing import Any

import orjson
import socketio
import uvloop
import websockets

COUNTERS = "subscription($p: ID!) { postCounters(postId: $p) { likes } }"


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Socket:
    def __init__(self):
        self.arrivals: list[float] = []
        self.changed = asyncio.Event()
        self.close: Any = None

    def arrived(self) -> None:
        self.arrivals.append(time.time())
        self.changed.set()


async def _ws(base: str, token: str, post: str | None, s: Socket) -> None:
    ws = await websockets.connect(
        base.replace("http", "ws", 1) + "/ws", ping_interval=None, max_queue=64, open_timeout=60
    )
    await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
    if orjson.loads(await ws.recv())["type"] != "authenticated":
        raise RuntimeError("not authenticated")
    if post is not None:
        await ws.send(orjson.dumps({"type": "subscribe", "topic": f"post:{post}"}).decode())
        if orjson.loads(await ws.recv())["type"] != "subscribed":
            raise RuntimeError("not subscribed")

    async def reader():
        async for raw in ws:
            if orjson.loads(raw).get("type") == "counter.updated":
                s.arrived()

    task = asyncio.create_task(reader())

    async def close():
        task.cancel()
        await ws.close()

    s.close = close


async def _socketio(base: str, token: str, post: str | None, s: Socket) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    sio.on("counter.updated", lambda data: s.arrived())
    await sio.connect(base, auth={"token": token}, transports=["websocket"], wait_timeout=60)
    if post is not None:
        ack = await sio.call("subscribe", {"topic": f"post:{post}"}, timeout=60)
        if ack != {"ok": True}:
            raise RuntimeError(f"socket.io subscribe: {ack}")
    s.close = sio.disconnect


async def _graphql(base: str, token: str, post: str | None, s: Socket) -> None:
    ws = await websockets.connect(
        base.replace("http", "ws", 1) + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        ping_interval=None,
        open_timeout=60,
    )
    await ws.send(orjson.dumps({"type": "connection_init", "payload": {"token": token}}).decode())
    if orjson.loads(await ws.recv())["type"] != "connection_ack":
        raise RuntimeError("graphql: no connection_ack")
    if post is not None:
        sub = {"id": "1", "type": "subscribe", "payload": {"query": COUNTERS, "variables": {"p": post}}}
        await ws.send(orjson.dumps(sub).decode())
        # the server reads the next message once the subscription listens: a pong proves it
        await ws.send('{"type":"ping"}')
        if orjson.loads(await ws.recv())["type"] != "pong":
            raise RuntimeError("graphql: no pong")

    async def reader():
        async for raw in ws:
            if orjson.loads(raw).get("type") == "next":
                s.arrived()

    task = asyncio.create_task(reader())

    async def close():
        task.cancel()
        await ws.close()

    s.close = close


FACES = {"ws": _ws, "socket.io": _socketio, "graphql": _graphql}


async def _child() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    spec = orjson.loads(await reader.readline())
    connect = FACES[spec["face"]]
    sockets = [Socket() for _ in spec["sockets"]]
    sem = asyncio.Semaphore(25)

    async def one(s: Socket, base: str, token: str, post: str | None):
        async with sem:
            await connect(base, token, post, s)

    tried = await asyncio.gather(
        *(one(s, *args) for s, args in zip(sockets, spec["sockets"], strict=True)), return_exceptions=True
    )
    failed = [repr(x) for x in tried if isinstance(x, BaseException)]
    sockets = [s for s, x in zip(sockets, tried, strict=True) if not isinstance(x, BaseException)]
    _say({"ready": len(sockets), "failed": failed[:3], "cpu_s": cpu_s()})
    while line := (await reader.readline()).strip():
        i = orjson.loads(line)["collect"]
        for s in sockets:
            while len(s.arrivals) <= i:
                s.changed.clear()
                await asyncio.wait_for(s.changed.wait(), 60)
        _say({"times": [s.arrivals[i] for s in sockets], "cpu_s": cpu_s()})
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)


def _say(obj: dict) -> None:
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    sys.stdout.flush()


class Clients:
    """`procs` client processes sharing `sockets` ([base, token, post|None] each) round-robin."""

    def __init__(self, face: str, sockets: list[list], procs: int, *, refusals_ok: bool = False):
        self.face, self.sockets, self.n = face, sockets, max(1, min(procs, len(sockets)))
        self.refusals_ok = refusals_ok  # idle sockets: a refused one (unavailable) is counted, not fatal
        self.children: list[asyncio.subprocess.Process] = []
        self.round = 0
        self.ready = 0
        self.cpu_s = 0.0

    async def __aenter__(self) -> Clients:
        for k in range(self.n):
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.bench.rt_clients",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=2**24,
            )
            self.children.append(child)
            share = self.sockets[k :: self.n]
            child.stdin.write(orjson.dumps({"face": self.face, "sockets": share}) + b"\n")  # type: ignore[union-attr]
        answers = await asyncio.gather(*(self._answer(c) for c in self.children))
        self.ready = sum(a["ready"] for a in answers)
        failed = [f for a in answers for f in a["failed"]]
        if self.ready < len(self.sockets) and not self.refusals_ok:
            raise RuntimeError(f"{self.face}: {len(self.sockets) - self.ready} sockets failed to open: {failed}")
        self._cpu0 = sum(a["cpu_s"] for a in answers)
        return self

    async def _answer(self, child) -> dict:
        line = await asyncio.wait_for(child.stdout.readline(), 300)
        if not line:
            raise RuntimeError(f"{self.face}: a client process ended (exit {await child.wait()})")
        return orjson.loads(line)

    async def collect(self) -> tuple[list[float], float]:
        """The arrival times of the next push on every socket, and the CPU seconds the client
        processes spent since the previous collect (or since they were ready)."""
        for c in self.children:
            c.stdin.write(orjson.dumps({"collect": self.round}) + b"\n")  # type: ignore[union-attr]
        self.round += 1
        answers = await asyncio.gather(*(self._answer(c) for c in self.children))
        cpu = sum(a["cpu_s"] for a in answers)
        spent, self._cpu0 = cpu - self._cpu0, cpu
        return [t for a in answers for t in a["times"]], spent

    async def __aexit__(self, *exc) -> None:
        for c in self.children:
            if c.stdin is not None and not c.stdin.is_closing():
                c.stdin.write(b"\n")
                c.stdin.close()
        for c in self.children:
            try:
                await asyncio.wait_for(c.wait(), 30)
            except TimeoutError:
                c.kill()
                await c.wait()


if __name__ == "__main__":
    uvloop.run(_child())
