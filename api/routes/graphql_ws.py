"""WebSocket /graphql: GraphQL subscriptions over graphql-transport-ws (the protocol of the
`graphql-ws` library, Apollo Client and urql), a thin face over the realtime core.

Ariadne's own handler (ariadne.asgi.handlers.GraphQLTransportWSHandler) is written for Starlette's
WebSocket; our /graphql is a Quart route, so the protocol is spoken here and Ariadne only executes
(`ariadne.subscribe`). Close codes and message shapes follow the protocol
(github.com/enisdenjo/graphql-ws PROTOCOL.md); the close reason starts with a stable code.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

import orjson
from ariadne import subscribe
from graphql import GraphQLError, OperationType, get_operation_ast, parse
from quart import Blueprint, current_app, websocket

from api.cors import exempt as cors_exempt
from api.graphql.live import Feed
from api.graphql.resolvers.common import format_error
from api.graphql.schema import schema
from api.realtime.core import CLOSE_TRY_AGAIN, Connection, ConnectionClosed, RealtimeError
from models.core.errors import DomainError

bp = Blueprint("graphql_ws", __name__)
log = logging.getLogger("api.routes.graphql")  # its filter keeps DomainErrors (the client's) out

PROTOCOL = "graphql-transport-ws"
INIT_TIMEOUT = 10.0  # seconds to send connection_init (close 4408)


class Close(Exception):
    """The protocol ends the socket: `code`, and a reason that starts with a stable code."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason[:123]  # a close reason is at most 123 bytes


def token_of(payload) -> str | None:
    """connection_init payload: {"token": …} or {"Authorization": "Bearer …"}."""
    if not isinstance(payload, dict):
        return None
    if isinstance(payload.get("token"), str):
        return payload["token"]
    header = payload.get("Authorization", payload.get("authorization"))
    if isinstance(header, str):
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


def _parse(raw: str | bytes) -> dict:
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Close(4400, "bad_request: messages are JSON objects") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise Close(4400, "bad_request: a message is a JSON object with a string type")
    return msg


class Socket:
    """One graphql-transport-ws socket: its core Connection and its running operations."""

    def __init__(self, app):
        self.app = app
        self.conn: Connection | None = None
        self.feed: Feed | None = None
        self.ops: dict[str, asyncio.Task] = {}
        self.init_received = False
        self.ended: asyncio.Future[Close] = asyncio.get_running_loop().create_future()
        self._send_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []

    async def send(self, msg: dict) -> None:
        async with self._send_lock:
            await websocket.send(orjson.dumps(msg).decode())

    def end(self, close: Close) -> None:
        if not self.ended.done():
            self.ended.set_result(close)

    async def serve(self) -> None:
        receiver = asyncio.create_task(self._receive())
        self._tasks.append(receiver)
        try:
            close = await self.ended
            await websocket.close(close.code, close.reason)
        finally:
            for task in [*self._tasks, *self.ops.values()]:
                task.cancel()
            if self.conn is not None:
                await self.conn.close()

    async def _receive(self) -> None:
        try:
            try:
                first = await asyncio.wait_for(websocket.receive(), INIT_TIMEOUT)
            except TimeoutError:
                raise Close(4408, "init_timeout: connection_init was not sent in time") from None
            await self._handle(first)
            while True:
                await self._handle(await websocket.receive())
        except Close as close:
            self.end(close)

    async def _handle(self, raw: str | bytes) -> None:
        if self.conn is not None:
            try:
                self.conn.admit(len(raw))
            except RealtimeError as exc:
                raise Close(exc.close_code or 4400, f"{exc.code}: {exc.message}") from None
        msg = _parse(raw)
        kind = msg["type"]
        if kind == "connection_init":
            await self._init(msg.get("payload"))
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            await self._subscribe(msg)
        elif kind == "complete":
            if self.conn is None:
                raise Close(4401, "unauthorized: send connection_init first")
            task = self.ops.pop(str(msg.get("id")), None)
            if task is not None:  # the client ended it: no `complete` back
                task.cancel()
        else:
            raise Close(4400, f"bad_request: unknown message type {kind[:40]!r}")

    async def _init(self, payload) -> None:
        if self.init_received:
            raise Close(4429, "too_many_init: connection_init was already sent")
        self.init_received = True
        try:
            self.conn = await Connection.open(self.app, token_of(payload), face="graphql")
        except RealtimeError as exc:  # the protocol's way to refuse a connection is 4403 Forbidden
            if exc.close_code == CLOSE_TRY_AGAIN:  # a dependency is down: not forbidden, retry later
                raise Close(CLOSE_TRY_AGAIN, f"{exc.code}: {exc.message}") from None
            raise Close(4403, f"{exc.code}: {exc.message}") from None
        self.feed = Feed(self.conn)
        self._tasks.append(asyncio.create_task(self._pump(self.feed)))
        await self.send({"type": "connection_ack"})

    async def _pump(self, feed: Feed) -> None:
        try:
            await feed.run()
        except ConnectionClosed as exc:  # revoked session, limits: as the core says
            self.end(Close(exc.close_code or 4403, f"{exc.code}: {exc.message}"))

    async def _subscribe(self, msg: dict) -> None:
        if self.conn is None:
            raise Close(4401, "unauthorized: send connection_init first")
        op_id, payload = msg.get("id"), msg.get("payload")
        if not isinstance(op_id, str) or not op_id:
            raise Close(4400, "bad_request: subscribe needs a string id")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise Close(4400, "bad_request: subscribe needs a payload with a query")
        if op_id in self.ops:
            raise Close(4409, f"Subscriber for {op_id[:60]} already exists")
        started = asyncio.Event()
        self.ops[op_id] = asyncio.create_task(self._operation(op_id, payload, started))
        # the next message is read once this operation listens (or failed): a client may rely on
        # the order, e.g. subscribe, then act, and not miss the push its act causes
        await started.wait()

    async def _error(self, op_id: str, errors: list[dict]) -> None:
        await self.send({"id": op_id, "type": "error", "payload": errors})

    async def _operation(self, op_id: str, data: dict, started: asyncio.Event) -> None:
        done = False
        try:
            refused = _only_subscriptions(data)
            if refused is not None:
                await self._error(op_id, [refused])
                done = True
                return
            ok, result = await subscribe(
                schema,
                data,
                context_value={"svc": self.conn.svc, "user_id": self.conn.user_id, "feed": self.feed},  # type: ignore[union-attr]
                error_formatter=format_error,
                logger=log,
            )
            if not ok:
                await self._error(op_id, result if isinstance(result, list) else [result])  # type: ignore[list-item]
                done = True
                return
            started.set()
            try:
                async for item in result:  # type: ignore[union-attr]
                    out: dict = {"data": item.data}
                    if item.errors:
                        out["errors"] = [format_error(e) for e in item.errors]
                    await self.send({"id": op_id, "type": "next", "payload": out})
            except DomainError as exc:  # the right ended (e.g. unfollowed: post_not_found)
                await self._error(op_id, [{"message": exc.message, "extensions": {"code": exc.code}}])
                done = True
                return
            finally:
                with suppress(Exception):
                    await result.aclose()  # type: ignore[union-attr]
            await self.send({"id": op_id, "type": "complete"})
            done = True
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("subscription failed", extra={"operation_id": op_id})
            if not done:
                await self._error(
                    op_id, [{"message": "an unexpected error occurred", "extensions": {"code": "internal_error"}}]
                )
        finally:
            started.set()
            if self.ops.get(op_id) is asyncio.current_task():
                del self.ops[op_id]


def _only_subscriptions(data: dict) -> dict | None:
    """Queries and mutations go over HTTP POST /graphql (its rate limits and idempotency keys)."""
    try:
        op = get_operation_ast(parse(data["query"]), data.get("operationName"))
    except GraphQLError as exc:
        return format_error(exc)
    if op is None:
        return {"message": "no such operation in the document", "extensions": {"code": "graphql_validation_failed"}}
    if op.operation is not OperationType.SUBSCRIPTION:
        return {
            "message": "only subscriptions are served over the websocket: send queries and mutations to POST /graphql",
            "extensions": {"code": "operation_not_supported"},
        }
    return None


@bp.websocket("/graphql")
@cors_exempt  # a token, not a cookie: no Origin check (api/cors.py)
async def graphql_ws():
    if PROTOCOL not in websocket.requested_subprotocols:
        await websocket.accept()
        await websocket.close(4406, f"subprotocol_not_acceptable: use {PROTOCOL}")
        return
    await websocket.accept(subprotocol=PROTOCOL)
    await Socket(current_app._get_current_object()).serve()  # type: ignore[attr-defined]
