"""PostgreSQL connections: one async engine per process, sessions per unit of work."""

from __future__ import annotations

from contextvars import ContextVar

from sqlalchemy import event
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
        if settings.count_statements:
            _count_statements(_engine)
    return _engine


# ---- statements per request (COUNT_SQL_STATEMENTS; the API answers X-SQL-Statements): how the
# tests and `make bench` prove a page costs a constant number of statements.
_statements: ContextVar[list[int] | None] = ContextVar("sql_statements", default=None)
_TX = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def counting() -> list[int]:
    """Count the statements the current task (and tasks it starts) sends from now on: [n]."""
    box = [0]
    _statements.set(box)
    return box


def _bump(*_args) -> None:
    box = _statements.get()
    if box is not None:
        box[0] += 1


def _raw_query(record) -> None:
    # Raw asyncpg calls (the engagement store); SQLAlchemy's own go through prepared statements,
    # which asyncpg does not log, and are counted by the cursor event. Not the request's work:
    # transaction control, the pool's pre-ping (";"), asyncpg's type introspection on a fresh
    # connection (a recursive catalog query with JIT turned off around it).
    q = record.query.strip().upper()
    if q and q != ";" and not q.startswith(_TX) and "SET_CONFIG('JIT'" not in q and "TYPEINFO_TREE" not in q:
        _bump()


def _count_statements(engine: AsyncEngine) -> None:
    event.listen(engine.sync_engine, "before_cursor_execute", _bump)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.driver_connection.add_query_logger(_raw_query)


def sessions() -> async_sessionmaker[AsyncSession]:
    if _sessionmaker is None:
        raise RuntimeError("init_engine() was not called")
    return _sessionmaker


async def dispose_engine() -> None:
    global _engine, _sessionmaker
    if _engine is not None:
        await _engine.dispose()
    _engine = _sessionmaker = None
