"""Semantic search service: answers the API's "caption-embedding neighbours of this query" requests
over Redis (models/discovery/semantic.py does the work; docs/search.md#semantic-matches).

Not a Kafka agent: a request/reply service, as a mode.Service of the worker's Faust app, since
this process owns the embedding model and Qdrant. Selected by WORKER_AGENTS like an agent
module (`semantic_search`); off with SEARCH_SEMANTIC=false.
"""

from __future__ import annotations

import asyncio
import logging

import faust
import redis.asyncio as aioredis
from mode import Service

from infra.settings import Settings
from ml import embeddings
from models.discovery import semantic

log = logging.getLogger(__name__)


def setup(app: faust.App, settings: Settings) -> None:
    if not settings.search_semantic:
        return

    @app.service
    class SemanticSearch(Service):
        def __post_init__(self) -> None:
            self.redis: aioredis.Redis | None = None

        async def on_start(self) -> None:
            # its own connection: BRPOP holds one for up to a second at a time
            self.redis = aioredis.from_url(settings.redis_url, socket_timeout=10)
            await asyncio.to_thread(embeddings.warm, settings)  # before announcing itself

        @Service.task
        async def _serve(self) -> None:
            assert self.redis is not None
            log.info("semantic search service started")
            await semantic.serve(self.redis, settings, lambda: self.should_stop)

        async def on_shutdown(self) -> None:  # after the task above is cancelled
            if self.redis is not None:
                try:
                    await semantic.leave(self.redis)
                finally:
                    await self.redis.aclose()
