"""Socket.IO v4 at /socket.io/ (api/realtime/sio.py) with python-socketio's real client: the
handshake's auth, acknowledged subscribe/unsubscribe, pushes as events named by their /ws type with
the /ws payload (a like through the worker, a DM, typing, a notification, presence), and bad input
answered with stable codes."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import orjson
import pytest
import socketio
import websockets

from streams.agents.notifications import notifications as notifications_agent
from tests.messaging.test_notifications import like
from tests.support.factories import create_post, user
from tests.support.realtime import next_message, subscribed
from tests.support.waiting import wait_for


class Client:
    """A python-socketio AsyncClient that records every event it receives."""

    def __init__(self):
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self.refused: list = []

        @self.sio.on("*")
        async def any_event(event, data=None):
            await self.events.put((event, data))

        @self.sio.event
        async def connect_error(data):
            self.refused.append(data)

    async def call(self, event: str, data=None):
        return await self.sio.call(event, data, timeout=10)

    async def event(self, name: str, timeout: float = 10.0, where=lambda data: True):
        """The next event `name` whose data matches `where`; others are skipped."""
        while True:
            event, data = await asyncio.wait_for(self.events.get(), timeout)
            if event == name and where(data):
                return data


@asynccontextmanager
async def connected(api: str, token: str, **kw):
    c = Client()
    await c.sio.connect(api, auth={"token": token}, wait_timeout=10, **kw)
    try:
        yield c
    finally:
        await c.sio.disconnect()


async def test_auth_in_the_handshake_and_refusals(client, api, redis):
    u = await user(client)
    async with connected(api, u["access_token"]) as c:  # polling, then upgraded to websocket
        assert c.sio.connected
        await wait_for(lambda: subscribed(redis, u["id"]), what="its user:<id> channel joined")
    async with connected(api, u["access_token"], transports=["websocket"]) as c:
        assert c.sio.connected
    c = Client()  # old clients: ?token= in the URL
    await c.sio.connect(f"{api}?token={u['access_token']}", wait_timeout=10)
    assert c.sio.connected
    await c.sio.disconnect()

    for auth in ({"token": "not-a-jwt"}, {}, None):
        c = Client()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await c.sio.connect(api, auth=auth, wait_timeout=10)
        (err,) = c.refused
        # socket.io-client's connect_error: err.message, err.data = {code, message}
        assert err["data"]["code"] in ("invalid_token", "unauthorized"), err
        assert isinstance(err["data"]["message"], str) and err["message"] == err["data"]["message"]


async def test_a_like_reaches_socketio_with_the_ws_payload(client, api, worker):
    author, fan = await user(client), await user(client)
    post = await create_post(client, author)
    topic = {"topic": f"post:{post}"}
    async with (
        connected(api, fan["access_token"]) as c,
        websockets.connect(api.replace("http", "ws") + "/ws?token=" + fan["access_token"]) as ws,
    ):
        assert await c.call("subscribe", topic) == {"ok": True}
        assert await c.call("subscribe", topic) == {"ok": True}  # twice is once
        assert orjson.loads(await ws.recv())["type"] == "authenticated"
        await ws.send(orjson.dumps({"type": "subscribe", **topic}).decode())
        await next_message(ws, "subscribed")
        r = await client.post("/interactions/reactions", json={"post_id": post, "type": "like"}, headers=fan["headers"])
        assert r.status_code == 202
        over_ws = await next_message(ws, "counter.updated", timeout=30)
        over_sio = await c.event("counter.updated", timeout=30)
        assert over_sio == over_ws and over_sio["post_id"] == post and over_sio["counters"]["likes"] == 1

        assert await c.call("unsubscribe", topic) == {"ok": True}
        r = await client.post("/interactions/reactions", json={"post_id": post, "type": "wow"}, headers=fan["headers"])
        assert (await next_message(ws, "counter.updated", timeout=30))["counters"]["wows"] == 1
        # the ws push came; the unsubscribed Socket.IO client got nothing meanwhile
        assert await c.call("subscribe", topic) == {"ok": True}
        assert c.events.empty()


async def test_refusals_are_acknowledged_with_stable_codes(client, api):
    author, stranger = await user(client), await user(client)
    r = await client.post("/posts", json={"caption": "friends", "visibility": "followers"}, headers=author["headers"])
    hidden = r.json()["id"]
    async with connected(api, stranger["access_token"]) as c:
        refused = await c.call("subscribe", {"topic": f"post:{hidden}"})
        assert refused["ok"] is False and refused["code"] == "post_not_found" and refused["message"]
        assert (await c.call("subscribe", {"topic": "users:everything"}))["code"] == "bad_topic"
        assert (await c.call("subscribe", {"topic": f"presence:{author['id']}"}))["code"] == "presence_not_visible"
        for bad in (None, "post:x", {"topic": 7}, [1, 2]):
            assert (await c.call("subscribe", bad))["code"] == "bad_request", bad
        assert (await c.call("typing", {"conversation_id": "nope"}))["code"] == "bad_request"
        assert (await c.call("shout", {"x": 1}))["code"] == "bad_request"
        assert (await c.event("error"))["code"] == "bad_request"  # also told as an event
        assert c.sio.connected  # none of these ends the connection
    async with connected(api, author["access_token"]) as c:  # its author may
        assert await c.call("subscribe", {"topic": f"post:{hidden}"}) == {"ok": True}


async def test_malformed_frames_are_refused_with_a_reason_never_a_server_exception(client, api, log_dir):
    u = await user(client)
    url = api.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    garbage = ["x" * 10, "99", "", "4{}", '42["subscribe"', '42{"not":"a list"}', "42[]", "42[7]", "40[1]"]
    for frame in garbage:
        async with websockets.connect(url) as ws:
            assert (await ws.recv()).startswith("0{")  # Engine.IO open
            await ws.send("40" + orjson.dumps({"token": u["access_token"]}).decode())
            assert (await ws.recv()).startswith("40{")  # Socket.IO connected
            await ws.send(frame)
            told = await asyncio.wait_for(ws.recv(), 10)
            assert told.startswith('42["error"') and orjson.loads(told[2:])[1]["code"] == "bad_request", (frame, told)
            try:  # then the session ends: the socket closes, or Engine.IO's close packet comes first
                while await asyncio.wait_for(ws.recv(), 10) != "1":
                    pass
            except websockets.ConnectionClosed:
                pass
    # long-polling: a POST body that is not Engine.IO packets is a 400 with a code
    r = await client.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
    sid = orjson.loads(r.text[1:])["sid"]
    for body in (b"zzz", b"b!!notbase64", b"\xff\xfe"):
        r = await client.post("/socket.io/", params={"EIO": "4", "transport": "polling", "sid": sid}, content=body)
        assert r.status_code == 400 and r.json()["code"] == "bad_request", body

    async with connected(api, u["access_token"]) as c:  # the server is fine
        assert (await c.call("subscribe", {"topic": "users:x"}))["code"] == "bad_topic"
    logged = "".join(p.read_text() for p in log_dir.glob("api-*.log"))
    assert "Exception in ASGI application" not in logged
    assert '"logger": "engineio.server", "message": "message async handler error"' not in logged
    assert "Unknown receive error" not in logged


async def test_own_room_dms_typing_notifications_and_presence(client, api, svc, redis):
    a, b = await user(client), await user(client)
    async with connected(api, b["access_token"]) as cb, connected(api, a["access_token"]) as ca:
        for u in (a, b):
            await wait_for(lambda u=u: subscribed(redis, u["id"]), what="the user's channel")
        r = await client.post(
            "/interactions/messages", json={"to_user_id": str(b["id"]), "body": "live"}, headers=a["headers"]
        )
        pushed = await cb.event("message.new")  # no subscribe: user:<id> is joined on connect
        assert pushed["type"] == "message.new" and pushed["message"]["id"] == r.json()["id"]
        conv = r.json()["conversation_id"]
        assert await ca.call("typing", {"conversation_id": conv}) == {"ok": True}
        assert await cb.event("typing") == {"type": "typing", "conversation_id": conv, "user_id": str(a["id"])}

        post = await create_post(client, b)
        await notifications_agent([like(post, a)], svc)
        note = await cb.event("notification", where=lambda d: d["notification"]["kind"] == "reaction")
        assert note["notification"]["post_id"] == post and note["notification"]["actor_count"] == 1

        # b may see a's presence (they talk): a's last socket closing is announced
        assert await cb.call("subscribe", {"topic": f"presence:{a['id']}"}) == {"ok": True}
    async with connected(api, b["access_token"]) as cb:
        assert await cb.call("subscribe", {"topic": f"presence:{a['id']}"}) == {"ok": True}
        async with connected(api, a["access_token"]):
            online = await cb.event("presence", timeout=15, where=lambda d: d["online"] is True)
            assert online["user_id"] == str(a["id"])
        offline = await cb.event("presence", timeout=30, where=lambda d: d["online"] is False)
        assert offline["user_id"] == str(a["id"]) and offline["last_seen_at"]
