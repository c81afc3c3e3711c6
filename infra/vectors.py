"""Qdrant: post embeddings (`videos`) and user interest vectors (`users`), one code path for
local mode (QDRANT_PATH, the embedded default) and a Qdrant server (QDRANT_URL).

Each name the code uses is an alias for a versioned collection (`videos` -> `videos_<version>`),
so a rebuild fills a new collection while the old one serves and then swaps the alias.

Local mode lets one process open a path, and its client computes on the caller's thread, so
only the stream worker opens it (`shared()`), and every call runs on one dedicated thread: the
worker's event loop never waits on a brute-force search. The API never opens Qdrant; it reads
what the worker writes to Redis (models/discovery/recommendations.py).
"""

from __future__ import annotations

import asyncio
import atexit
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from infra.settings import Settings
from ml.embeddings import DIM

VIDEOS, USERS = "videos", "users"


def new_version() -> str:
    """A rebuild's version, which names its collections (`videos_<version>`): UTC time, sortable."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + f"{time.time_ns() // 1000 % 1000000:06d}"


class Vectors:
    def __init__(self, settings: Settings):
        if settings.qdrant_url:
            self.client = QdrantClient(url=settings.qdrant_url, timeout=30)
        else:
            if settings.qdrant_path != ":memory:":  # in-memory: jobs/eval_recommender.py
                Path(settings.qdrant_path).mkdir(parents=True, exist_ok=True)
            self.client = QdrantClient(path=settings.qdrant_path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdrant")
        self._ready: set[str] = set()
        self._fast_commits()

    async def run(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.client.close()

    def _fast_commits(self) -> None:
        """Local mode stores each point in its own SQLite transaction: one fsync per point, 350
        points/s here, which made the embeddings agent wait on the disk for most of its time.
        WAL with synchronous=NORMAL makes those commits about 10x cheaper and still survives a
        process crash; an OS crash may lose the last commits, which the rebuild job restores
        (the index is derived data). A server (QDRANT_URL) has no such connections."""
        for collection in getattr(getattr(self.client, "_client", None), "collections", {}).values():
            conn = getattr(getattr(collection, "storage", None), "storage", None)
            if conn is not None:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")

    # --- collections and aliases (sync: they run on the Qdrant thread) ---

    def _create(self, name: str) -> None:
        if not self.client.collection_exists(name):
            self.client.create_collection(name, vectors_config=qm.VectorParams(size=DIM, distance=qm.Distance.COSINE))
            self._fast_commits()

    def _target(self, alias: str) -> str | None:
        for a in self.client.get_aliases().aliases:
            if a.alias_name == alias:
                return a.collection_name
        return None

    def _ensure(self, alias: str) -> str:
        target = self._target(alias)
        if target is None:
            target = f"{alias}_{new_version()}"
            self._create(target)
            self.client.update_collection_aliases(
                [qm.CreateAliasOperation(create_alias=qm.CreateAlias(collection_name=target, alias_name=alias))]
            )
        return target

    async def ensure(self, *aliases: str) -> None:
        """Give each alias a collection if it has none (first start)."""
        for alias in aliases:
            if alias not in self._ready:
                await self.run(self._ensure, alias)
                self._ready.add(alias)

    async def target(self, alias: str) -> str | None:
        return await self.run(self._target, alias)

    async def create(self, name: str) -> None:
        await self.run(self._create, name)

    def _swap(self, alias: str, collection: str) -> str | None:
        old = self._target(alias)
        if old == collection:
            return None
        ops: list[Any] = [qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=alias))] if old else []
        ops.append(qm.CreateAliasOperation(create_alias=qm.CreateAlias(collection_name=collection, alias_name=alias)))
        self.client.update_collection_aliases(ops)  # one request: readers see the old or the new
        if old:
            self.client.delete_collection(old)
        return old

    async def swap(self, alias: str, collection: str) -> str | None:
        """Point `alias` at `collection` and drop the collection it pointed at (returned)."""
        return await self.run(self._swap, alias, collection)

    async def collections(self) -> list[str]:
        return await self.run(lambda: sorted(c.name for c in self.client.get_collections().collections))

    # --- points ---

    async def upsert(self, collection: str, ids: Sequence[str], vectors: np.ndarray, payloads: Sequence[dict]) -> None:
        if not ids:
            return
        batch = qm.Batch(ids=list(ids), vectors=vectors.tolist(), payloads=list(payloads))
        await self.run(self.client.upsert, collection, batch, wait=True)

    async def retrieve(self, collection: str, ids: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors of the points that exist among `ids`."""
        ids = list(ids)
        if not ids:
            return {}
        points = await self.run(self.client.retrieve, collection, ids, with_vectors=True, with_payload=False)
        return {str(p.id): np.asarray(p.vector, dtype=np.float32) for p in points}

    async def set_payload(self, collection: str, payload: dict, ids: Sequence[str]) -> None:
        if ids:
            await self.run(self.client.set_payload, collection, payload, points=list(ids), wait=True)

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        if ids:
            await self.run(self.client.delete, collection, qm.PointIdsList(points=list(ids)), wait=True)

    async def search_many(
        self, collection: str, queries: Sequence[np.ndarray], limit: int, fields: Sequence[str]
    ) -> list[list[qm.ScoredPoint]]:
        """Top `limit` points per query vector, with the payload `fields`. No server-side filter:
        local mode evaluates filters point by point in Python (ARCHITECTURE.md §4: 38 ms -> 250 ms
        on 20k points), so callers filter the payload themselves, which also works on a server."""
        if not queries:
            return []
        requests = [qm.QueryRequest(query=q.tolist(), limit=limit, with_payload=list(fields)) for q in queries]
        answers = await self.run(self.client.query_batch_points, collection, requests)
        return [a.points for a in answers]

    async def count(self, collection: str) -> int:
        return (await self.run(self.client.count, collection, exact=True)).count


_open: dict[str, Vectors] = {}


def shared(settings: Settings) -> Vectors:
    """This process's client for the Qdrant that `settings` name (opened on first use). Only the
    stream worker (and tests/jobs that run its code in-process on their own path) may call it."""
    key = settings.qdrant_url or str(Path(settings.qdrant_path).absolute())
    if key not in _open:
        _open[key] = Vectors(settings)
    return _open[key]


@atexit.register
def close_all() -> None:
    """Release local-mode locks (the next worker may open the path at once)."""
    while _open:
        _open.popitem()[1].close()
