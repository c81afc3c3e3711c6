"""The process's connections, built once and handed to domain functions as `svc`; and the one
place where domains are wired together (the layer rule's named exception, docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra import db
from infra.kafka import EventProducer
from infra.outbox_relay import OutboxRelay
from infra.settings import Settings
from models.engagement import EngagementStore, make_store
from models.media import avatars
from models.messaging import messages, notifications
from models.moderation import checks, queue, sanctions
from models.wallet import subscriptions


def wire_domains() -> None:
    """Hooks by which a higher domain extends a lower one, installed before anything is served."""
    subscriptions.register_visibility()
    avatars.register()
    checks.register()  # content checks on the write paths below moderation (models/core/screening)
    sanctions.register()  # suspended and banned accounts cannot log in (models/accounts/sessions)
    messages.register_moderation()
    notifications.register_moderation()
    queue.register()


@dataclass
class Services:
    settings: Settings
    redis: aioredis.Redis
    producer: EventProducer
    store: EngagementStore
    relay: OutboxRelay

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return db.sessions()

    @classmethod
    async def start(cls, settings: Settings, *, relay: bool = True) -> Services:
        wire_domains()
        engine = db.init_engine(settings)
        # Blocking pool: a burst beyond the pool waits up to 5 s for a connection instead of
        # failing at once (redis-py's default pool raises past its 100th connection).
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=settings.redis_max_connections,
            timeout=5,
            socket_timeout=5,
            socket_connect_timeout=3,
            health_check_interval=30,
        )
        r = aioredis.Redis(connection_pool=pool)
        producer = EventProducer(settings)
        producer.start()
        store = make_store(settings, engine)
        await store.start()
        svc = cls(
            settings=settings,
            redis=r,
            producer=producer,
            store=store,
            relay=OutboxRelay(db.sessions(), producer, max_attempts=settings.outbox_max_attempts),
        )
        if relay:
            svc.relay.start()
        return svc

    async def stop(self) -> None:
        await self.relay.stop()
        await self.producer.stop()
        await self.store.close()
        await self.redis.aclose()
        await db.dispose_engine()
