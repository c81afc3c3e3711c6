"""What models.core asks of the services container. The container (infra.services.Services) sits
above models.core, which may not import it: these protocols name the part the core functions use,
and any Services satisfies them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession


class CoreSettings(Protocol):
    @property
    def jwt_secret(self) -> str: ...

    @property
    def idempotency_ttl(self) -> timedelta: ...


class CoreServices(Protocol):
    @property
    def settings(self) -> CoreSettings: ...

    @property
    def redis(self) -> aioredis.Redis: ...

    @property
    def sessions(self) -> Callable[[], AsyncSession]: ...


class Relay(Protocol):
    def kick(self) -> None: ...


class TransactionServices(Protocol):
    """What `transaction` uses of infra.services.Services (or of a job's stand-in for it)."""

    @property
    def sessions(self) -> Callable[[], AsyncSession]: ...

    @property
    def relay(self) -> Relay: ...
