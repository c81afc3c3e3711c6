"""A small graphql-transport-ws client over `websockets` (what the `graphql-ws` library speaks)."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import orjson
import websockets

PROTOCOL = "graphql-transport-ws"


def url_of(api: str) -> str:
    return api.replace("http", "ws", 1) + "/graphql"


class GqlWs:
    def __init__(self, ws):
        self.ws = ws
        self._held: list[dict] = []

    async def send(self, msg: dict | str) -> None:
        await self.ws.send(msg if isinstance(msg, str) else orjson.dumps(msg).decode())

    async def recv(self, timeout: float = 10.0) -> dict:
        return orjson.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def subscribe(self, op_id: str, query: str, **variables) -> None:
        await self.send({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})

    async def complete(self, op_id: str) -> None:
        await self.send({"id": op_id, "type": "complete"})

    async def of(self, op_id: str, timeout: float = 10.0) -> dict:
        """The next message of operation `op_id`; others are held for later calls."""
        for i, msg in enumerate(self._held):
            if msg.get("id") == op_id:
                return self._held.pop(i)
        while True:
            msg = await self.recv(timeout)
            if msg.get("id") == op_id:
                return msg
            self._held.append(msg)

    async def closed(self, timeout: float = 10.0) -> tuple[int | None, str]:
        """Waits for the server to close; (close code, reason)."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.ConnectionClosed as exc:
            rcvd = exc.rcvd
            return (rcvd.code, rcvd.reason) if rcvd else (None, "")


@asynccontextmanager
async def raw(api: str, subprotocols=(PROTOCOL,)):
    async with websockets.connect(url_of(api), subprotocols=list(subprotocols) or None) as ws:
        yield GqlWs(ws)


@asynccontextmanager
async def connected(api: str, payload: dict):
    """A socket past connection_init / connection_ack."""
    async with raw(api) as c:
        await c.send({"type": "connection_init", "payload": payload})
        assert await c.recv() == {"type": "connection_ack"}
        yield c
