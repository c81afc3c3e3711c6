"""A realistic reaction workload: heavy-tailed post popularity, many users, some unlikes and
some redelivered (duplicate) events; and the exact end state the store must reach."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from uuid import UUID

from aiokafka import AIOKafkaProducer

from models.content.reactions import ADDED, REMOVED
from models.core.events import Event, new_id

TYPES = ("like", "love", "laugh", "wow", "sad", "angry")
TYPE_WEIGHTS = (70, 12, 8, 4, 3, 3)


@dataclass
class Workload:
    records: list[tuple[bytes, bytes]]  # (key, value) in production order
    n_posts: int
    n_users: int
    removals: int = 0
    duplicates: int = 0
    # edge (post, user, type) -> active after the last event, and the counters it implies
    final: dict[tuple[str, str, str], bool] = field(default_factory=dict)

    @property
    def active_edges(self) -> int:
        return sum(self.final.values())

    def expected_counters(self) -> Counter:
        c: Counter = Counter()
        for (post, _user, kind), active in self.final.items():
            if active:
                c[(post, kind)] += 1
        return c


def make(
    n: int, n_posts: int = 2000, n_users: int = 50_000, unlike: float = 0.12, dup: float = 0.01, seed: int = 7
) -> Workload:
    rnd = random.Random(seed)
    posts = [str(new_id()) for _ in range(n_posts)]
    users = [str(new_id()) for _ in range(n_users)]
    # Zipf-like popularity (s = 1.1): the top post gets ~10% of the reactions, the tail a few each.
    post_w = [1.0 / (i + 1) ** 1.1 for i in range(n_posts)]
    w = Workload(records=[], n_posts=n_posts, n_users=n_users)
    added: list[tuple[str, str, str]] = []
    picks_post = rnd.choices(posts, weights=post_w, k=n)
    picks_type = rnd.choices(TYPES, weights=TYPE_WEIGHTS, k=n)
    for i in range(n):
        if w.records and rnd.random() < dup:  # a redelivery: the very same event again
            w.records.append(w.records[rnd.randrange(max(0, len(w.records) - 500), len(w.records))])
            w.duplicates += 1
            continue
        if added and rnd.random() < unlike:
            edge, etype = added[rnd.randrange(len(added))], REMOVED
            w.removals += 1
        else:
            edge, etype = (picks_post[i], rnd.choice(users), picks_type[i]), ADDED
            added.append(edge)
        post, user, kind = edge
        ev = Event(etype, {"post_id": post, "user_id": user, "type": kind}, actor=UUID(user))
        w.records.append((post.encode(), ev.to_bytes()))
        w.final[edge] = etype == ADDED
    return w


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    """Send every record (acks=1, lingering batches); return the seconds it took."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks=1,
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
        enable_idempotence=False,
    )
    await producer.start()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    try:
        pending = []
        for key, value in records:
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return loop.time() - t0
