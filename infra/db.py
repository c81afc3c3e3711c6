"""PostgreSQL connections: one async engine per process, sessions per unit of work."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from infra.settings import Settings

_engine: AsyncEngine | None = None
_sessionmaker: async_sessionmaker[AsyncSession] | None = None


def init_engine(settings: Settings) -> AsyncEngine:
    global _engine, _sessionmaker
    if _engine is None:
        if not settings.database_url:
            raise RuntimeError("DATABASE_URL is not set (make run / the tests set it)")
        _engine = create_async_engine(
            settings.sqlalchemy_url,
            pool_size=settings.db_pool_size,
            max_overflow=10,
            pool_pre_ping=True,
            pool_timeout=5,
            # A dead server must fail a request fast (503), not hang it.
            connect_args={"timeout": 5, "command_timeout": 30, "server_settings": {"application_name": "daira"}},
        )
        _sessionmaker = async_sessionmaker(_engine, expire_on_commit=False)
    return _engine


def sessions() -> async_sessionmaker[AsyncSession]:
    if _sessionmaker is None:
        raise RuntimeError("init_engine() was not called")
    return _sessionmaker


async def dispose_engine() -> None:
    global _engine, _sessionmaker
    if _engine is not None:
        await _engine.dispose()
    _engine = _sessionmaker = None
