"""SIGKILL the worker in the middle of a stream of reactions; after a restart the counters end at
exactly the number of distinct active reactions."""

from __future__ import annotations

import asyncio
import random

from tests.support.factories import create_post, register
from tests.support.waiting import wait_for


async def test_sigkill_mid_stream_then_restart_converges(client, worker):
    author = await register(client)
    posts = [await create_post(client, author, caption=f"crash {i}") for i in range(3)]
    fans = [await register(client) for _ in range(12)]
    rng = random.Random(7)
    state: dict[tuple[int, str], bool] = {}  # (fan, post) -> liked, the truth we expect

    async def burst(n: int) -> None:
        ops = []
        for _ in range(n):
            f, p = rng.randrange(len(fans)), rng.choice(posts)
            like = rng.random() < 0.65
            state[(f, p)] = like
            ops.append((f, p, like))
        # sequential per (fan, post) order matters; send in order, several connections at once
        for f, p, like in ops:
            r = await client.request(
                "POST" if like else "DELETE", "/interactions/reactions", json={"post_id": p}, headers=fans[f]["headers"]
            )
            assert r.status_code == 202, r.text

    first = asyncio.create_task(burst(150))
    await asyncio.sleep(0.4)
    worker.proc.kill()  # SIGKILL: no commit, no LeaveGroup
    await first
    await burst(100)  # accepted while no worker runs
    worker.start()

    expected = {p: sum(1 for (f, q), liked in state.items() if q == p and liked) for p in posts}

    async def converged():
        got = {}
        for p in posts:
            r = await client.get(f"/posts/{p}/counters", headers=author["headers"])
            got[p] = r.json()["likes"]
        return got if got == expected else None

    await wait_for(converged, timeout=60, interval=0.3, what=f"counters == {expected}")
