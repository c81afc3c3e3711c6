"""Section 19, group chats (models/messaging/groups.py, docs/messages.md): one message to a
MEMBERS-member room delivered to every member's /ws socket, against a one-to-one message in the
same run.

- A group of MEMBERS registered users (the sender is its owner), each with one /ws socket, half on
  each of 2 API processes. The sender POSTs /interactions/conversations/<id>/messages on the first
  process, MESSAGES times one after the other; for each (message, socket) pair: the seconds from
  the start of the POST to that socket's `message.new` of that message. The send path is one
  transaction (the message, one UPDATE of every member's row, the outbox row), then one Redis
  pipeline of MEMBERS publishes to the members' `user:<id>` channels.
- The baseline: the same sender's direct message (POST /interactions/messages) to one user whose
  socket is on the second process, MESSAGES times, timed the same way.

`run(env, log_dir, api_base)` reuses a running stack and API (tests/bench/run.py does); `run()`
alone starts a fresh embedded stack and API in a temp dir and removes them:
`python -m tests.bench.groups [--members N --messages N]`. All clients run in this one process,
so the figures include this process reading MEMBERS sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
import websockets

from tests.bench.api_load import pct, register_users


async def _open(base: str, token: str):
    ws = await websockets.connect(
        base.replace("http", "ws", 1) + "/ws", ping_interval=None, max_queue=256, open_timeout=60
    )
    await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
    if orjson.loads(await ws.recv())["type"] != "authenticated":
        raise RuntimeError("not authenticated")
    return ws


async def _timed(http, url: str, body: dict, headers: dict, sockets: list) -> list[float]:
    """POST a message (its body unique in the run); per socket, the seconds from the POST to its
    `message.new` of it."""

    async def reader(ws) -> float:
        while True:
            msg = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
            if msg.get("type") == "message.new" and msg["message"]["body"] == body["body"]:
                return time.perf_counter() - t0

    t0 = time.perf_counter()
    readers = [asyncio.ensure_future(reader(ws)) for ws in sockets]
    async with http.post(url, json=body, headers=headers) as r:
        out = await r.json()
        if r.status != 201:
            raise RuntimeError(f"send: {r.status} {out}")
    return list(await asyncio.gather(*readers))


async def _run(base: str, base2: str, members: int, messages: int) -> dict:
    users = await register_users(base, members + 1)
    owner, others, peer = users[0], users[1:members], users[members]
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/interactions/groups",
            json={"name": "bench room", "member_ids": [u["id"] for u in others]},
            headers=owner["headers"],
        ) as r:
            room = await r.json()
            if r.status != 201:
                raise RuntimeError(f"group: {r.status} {room}")
        sem = asyncio.Semaphore(32)

        async def opened(i: int, u: dict):
            async with sem:
                return await _open(base if i % 2 == 0 else base2, u["token"])

        sockets = list(await asyncio.gather(*(opened(i, u) for i, u in enumerate([owner, *others]))))
        peer_ws = await _open(base2, peer["token"])
        try:
            url = f"{base}/interactions/conversations/{room['id']}/messages"
            # one of each first: connections and caches warm, the conversation row exists
            await _timed(http, url, {"body": "warm"}, owner["headers"], sockets)
            dm = f"{base}/interactions/messages"
            await _timed(http, dm, {"to_user_id": peer["id"], "body": "warm"}, owner["headers"], [peer_ws])
            room_s, last_s, single_s = [], [], []
            for i in range(messages):  # interleaved, so both see the same machine
                took = await _timed(http, url, {"body": f"room {i}"}, owner["headers"], sockets)
                room_s += took
                last_s.append(max(took))
                single_s += await _timed(
                    http, dm, {"to_user_id": peer["id"], "body": f"dm {i}"}, owner["headers"], [peer_ws]
                )
        finally:
            for ws in [*sockets, peer_ws]:
                await ws.close()
    ms = [x * 1000 for x in room_s]
    single = [x * 1000 for x in single_s]
    last = [x * 1000 for x in last_s]
    return {
        "members": members,
        "messages": messages,
        "p50_ms": pct(ms, 50),
        "p99_ms": pct(ms, 99),
        "max_ms": max(ms),
        "last_p50_ms": pct(last, 50),
        "single_p50_ms": pct(single, 50),
        "single_p99_ms": pct(single, 99),
        "ratio_p50": pct(ms, 50) / pct(single, 50),
    }


def run(
    env: dict | None = None,
    log_dir: Path | None = None,
    api_base: str | None = None,
    *,
    members: int = 256,
    messages: int = 20,
) -> dict:
    import uvloop

    from tests.support.processes import REPO, start_api

    own = env is None
    tmp, stop_stack, procs, saved = None, (lambda: None), [], dict(os.environ)
    try:
        if own:
            from infra.dev import start_stack
            from tests.bench.stack import bench_env, own_env

            tmp = Path(tempfile.mkdtemp(prefix="daira-bench-groups-"))
            (tmp / "logs").mkdir()
            log_dir = tmp / "logs"
            base_env = own_env()
            add, stop_stack = start_stack(tmp / "var", base_env, preferred_ports=False)
            env = bench_env(base_env, add, tmp / "var", "benchg")
            subprocess.run(
                [sys.executable, "-m", "infra.migrate"], env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL
            )
            proc, api_base = start_api(env, log_dir)
            procs.append(proc)
        assert env is not None and log_dir is not None and api_base is not None
        proc2, base2 = start_api(env, log_dir)
        procs.append(proc2)
        return uvloop.run(_run(api_base, base2, members, messages))
    finally:
        for p in reversed(procs):
            p.stop()
        stop_stack()
        os.environ.clear()
        os.environ.update(saved)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def report_lines(r: dict) -> list[str]:
    return [
        f"{'19. group: 1 message -> ' + str(r['members']) + ' members p50 (ms)':<44}{r['p50_ms']:>16.1f}  "
        f"p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms over {r['messages']} messages x {r['members']} "
        f"sockets on 2 API processes; last socket per message p50 {r['last_p50_ms']:.1f} ms; one-to-one "
        f"p50 {r['single_p50_ms']:.1f} ms, p99 {r['single_p99_ms']:.1f} ms; ratio p50 {r['ratio_p50']:.2f}x",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.bench.groups", description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=256)
    ap.add_argument("--messages", type=int, default=20)
    args = ap.parse_args(argv)
    print("\n".join(report_lines(run(members=args.members, messages=args.messages))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
