"""Sections 13-15, realtime (api/realtime/core.py, docs/realtime.md), with the worker running, on
two API processes of their own (sockets-per-user cap raised: the sockets come from a few users):

13. Fan-out, per face (/ws, Socket.IO, GraphQL subscriptions): FANOUT sockets subscribed to one
    post, half on each API process, held by CLIENT_PROCS client processes
    (tests/bench/rt_clients.py); one real like (POST /interactions/reactions -> broker -> counters
    agent -> Redis -> both hubs) -> every socket's push, timed from the POST to its arrival in
    the client. LIKES rounds (like, unlike, ...); p50/p99/max over all (round, socket) pairs,
    against the same path to a single subscriber of the same face, interleaved in the same run.
    The CPU seconds the API processes and the client processes spent per round are printed too:
    on one 2-core machine the clients' reading competes with the server's sending.
14. Memory per idle socket: the second API process's RSS before, after 1,000 and after IDLE
    authenticated, unsubscribed /ws sockets.
15. Logout -> close: POST /auth/logout on one API process to the 4403 close of the session's
    socket on the other.

    python -m tests.bench.realtime [--sockets 1000] [--idle 5000] [--client-procs 4]
                                   # these sections alone, on their own embedded stack
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from uuid import uuid4

import aiohttp
import orjson
import psutil
import uvloop
import websockets

from tests.bench.api_load import pct
from tests.bench.rt_clients import Clients
from tests.support.processes import start_api

FACES = ("ws", "socket.io", "graphql")
PER_USER = 50


def run(env: dict, log_dir, *, fanout: int = 1000, idle: int = 5000, likes: int = 5, client_procs: int = 4) -> dict:
    procs = [start_api(env, log_dir, REALTIME_MAX_SOCKETS_PER_USER="100000") for _ in range(2)]
    try:
        apis = [psutil.Process(p.p.pid) for p, _ in procs]  # type: ignore[union-attr]
        return uvloop.run(_run([b for _, b in procs], apis, fanout, idle, likes, client_procs))
    finally:
        for p, _ in procs:
            p.stop()


def _cpu(apis: list[psutil.Process]) -> float:
    return sum(t.user + t.system for t in (a.cpu_times() for a in apis))


async def _face(http, bases, apis, users, liker, author, face: str, fanout: int, likes: int, procs: int) -> dict:
    single_post, crowd_post = await _post(http, bases[0], author), await _post(http, bases[0], author)
    crowd = [[bases[i % 2], users[i // PER_USER]["token"], crowd_post] for i in range(fanout)]
    single_lat, fan_lat, per_like, api_cpu, client_cpu = [], [], [], [], []
    async with (
        Clients(face, [[bases[0], author["token"], single_post]], 1) as single,
        Clients(face, crowd, procs) as fan,
    ):
        for i in range(likes):
            add = i % 2 == 0  # like, unlike, like...: each moves the counter, each is pushed
            t0 = time.time()
            await _react(http, bases[0], liker, single_post, add)
            single_lat += [t - t0 for t in (await single.collect())[0]]
            c0, t0 = _cpu(apis), time.time()
            await _react(http, bases[0], liker, crowd_post, add)
            times, spent = await fan.collect()
            api_cpu.append(_cpu(apis) - c0)
            client_cpu.append(spent)
            got = [t - t0 for t in times]
            fan_lat += got
            per_like.append((pct(got, 50) * 1000, max(got) * 1000))
    out = {
        "face": face,
        "sockets": fanout,
        "likes": likes,
        "client_procs": procs,
        "p50_ms": pct(fan_lat, 50) * 1000,
        "p99_ms": pct(fan_lat, 99) * 1000,
        "max_ms": max(fan_lat) * 1000,
        "single_p50_ms": pct(single_lat, 50) * 1000,
        "per_like": per_like,
        "api_cpu_ms": pct(api_cpu, 50) * 1000,
        "client_cpu_ms": pct(client_cpu, 50) * 1000,
    }
    out["ratio_p50"] = out["p50_ms"] / out["single_p50_ms"]
    out["ratio_p99"] = out["p99_ms"] / out["single_p50_ms"]
    return out


async def _run(
    bases: list[str], apis: list[psutil.Process], fanout: int, idle: int, likes: int, client_procs: int
) -> dict:
    async with aiohttp.ClientSession() as http:
        users = await _register(http, bases[0], -(-fanout // PER_USER) + len(FACES) + 22)
        holders = users[: -(-fanout // PER_USER)]
        rest = users[len(holders) :]
        author, likers, rest = rest[0], rest[1 : 1 + len(FACES)], rest[1 + len(FACES) :]
        out: dict = {"faces": []}
        for face, liker in zip(FACES, likers, strict=True):
            row = await _face(http, bases, apis, holders, liker, author, face, fanout, likes, client_procs)
            out["faces"].append(row)
            print(orjson.dumps(row).decode(), file=sys.stderr, flush=True)

        # 14. memory per idle socket on the second process
        await asyncio.sleep(3)  # closes settled (presence, hub unsubscribes)
        api2 = apis[1]
        before = api2.memory_info().rss
        first = min(1000, idle)
        socks = [[bases[1], holders[i % len(holders)]["token"], None] for i in range(idle)]
        async with Clients("ws", socks[:first], client_procs, refusals_ok=True) as one:
            await asyncio.sleep(3)
            at_first = api2.memory_info().rss
            rest_of = Clients("ws", socks[first:], client_procs, refusals_ok=True) if idle > first else _Nothing()
            async with rest_of as more:
                await asyncio.sleep(3)
                after = api2.memory_info().rss
        opened = one.ready + more.ready
        out.update(idle=opened, refused=idle - opened, rss_before_mb=before / 2**20)
        out.update(rss_first_mb=at_first / 2**20, rss_after_mb=after / 2**20)
        out["kib_per_socket"] = (after - before) / opened / 1024
        out["kib_first"] = (at_first - before) / one.ready / 1024
        out["rest"] = more.ready
        out["kib_rest"] = (after - at_first) / max(1, more.ready) / 1024
        await asyncio.sleep(5)  # the server finishes the closes before the next figure

        # 15. logout (first process) -> the socket's close (second process)
        closes = []
        for u in rest[:20]:
            session = await _login(http, bases[0], u)
            ws = await _open(bases[1], session["access_token"])
            t0 = time.perf_counter()
            async with http.post(
                f"{bases[0]}/auth/logout", headers={"Authorization": f"Bearer {session['access_token']}"}
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


class _Nothing:
    ready = 0

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None


async def _react(http, base: str, liker: dict, post_id: str, add: bool) -> None:
    headers = {"Authorization": f"Bearer {liker['token']}"}
    url = f"{base}/interactions/reactions"
    async with http.request("POST" if add else "DELETE", url, json={"post_id": post_id}, headers=headers) as r:
        if r.status not in (200, 202, 204):
            raise RuntimeError(f"reaction: {r.status} {await r.text()}")


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


def report_lines(r: dict) -> list[str]:
    lines = [
        f"13. fan-out of 1 like to {r['faces'][0]['sockets']:,} sockets on 2 API processes, "
        f"{r['faces'][0]['likes']} likes, clients in {r['faces'][0]['client_procs']} processes "
        "(ms; target p50 <= 3x single)",
        f"    {'face':<22}{'p50':>8}{'p99':>8}{'max':>8}{'single':>8}{'p50/1':>7}{'p99/1':>7}"
        f"{'API cpu':>9}{'client cpu':>11}  each like p50/max",
    ]
    for f in r["faces"]:
        lines.append(
            f"    {f['face']:<22}{f['p50_ms']:>8.1f}{f['p99_ms']:>8.1f}{f['max_ms']:>8.1f}{f['single_p50_ms']:>8.1f}"
            f"{f['ratio_p50']:>6.2f}x{f['ratio_p99']:>6.2f}x{f['api_cpu_ms']:>9.0f}{f['client_cpu_ms']:>11.0f}  "
            + ", ".join(f"{a:.0f}/{b:.0f}" for a, b in f["per_like"])
        )
    lines += [
        f"{'14. memory per idle socket (KiB)':<44}{r['kib_per_socket']:>16.1f}  {r['idle']:,} /ws sockets on one API "
        f"process: RSS {r['rss_before_mb']:.0f} -> {r['rss_first_mb']:.0f} (1,000: {r['kib_first']:.1f} KiB each) "
        + (
            f"-> {r['rss_after_mb']:.0f} MiB (the next {r['rest']:,}: {r['kib_rest']:.1f} KiB each)"
            if r["rest"]
            else ""
        )
        + "; "
        f"{r['refused']} refused (unavailable)",
        f"{'15. logout -> socket closed p50 (ms)':<44}{r['close_p50_ms']:>16.1f}  max {r['close_max_ms']:.1f} ms, "
        f"{r['logouts']} logouts, logout on one API process, socket on the other",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    from infra.dev import start_stack
    from tests.bench.stack import bench_env, own_env
    from tests.support.processes import REPO, Worker

    ap = argparse.ArgumentParser(prog="python -m tests.bench.realtime")
    ap.add_argument("--sockets", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=5000)
    ap.add_argument("--likes", type=int, default=5)
    ap.add_argument("--client-procs", type=int, default=4)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="daira-bench-rt-"))
    (tmp / "logs").mkdir()
    add, stop_stack = start_stack(tmp / "var", own_env(), preferred_ports=False)
    worker = None
    try:
        env = bench_env(own_env(), add, tmp / "var")
        subprocess.run(
            [sys.executable, "-m", "infra.migrate"], env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL
        )
        proc, base = start_api(env, tmp / "logs")  # the worker's API (it calls nothing on it here)
        try:
            worker = Worker(env, tmp / "logs", base)
            worker.start()
            r = run(
                env, tmp / "logs", fanout=args.sockets, idle=args.idle, likes=args.likes, client_procs=args.client_procs
            )
        finally:
            if worker is not None and worker.proc is not None:
                worker.proc.stop()
            proc.stop()
    finally:
        stop_stack()
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(report_lines(r)))
    print(orjson.dumps(r).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
