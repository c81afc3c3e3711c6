"""Account sanctions (models/moderation/sanctions.py) applied in-process the way the decision
endpoint does (inside outbox.transaction, then after_commit), enforced by the real API process:
logins and refreshes refused, writes with a token issued before refused, /ws, GraphQL
subscription and Socket.IO sockets closed, the strike policy, an overturned appeal, a suspension's own end."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from uuid import UUID

import orjson
import pytest
import socketio

from models.core import outbox
from models.core.base import utcnow
from models.core.errors import DomainError
from models.core.events import Event, new_id, received
from models.messaging import notifications
from models.moderation import sanctions
from streams.agents.notifications import notifications as notifications_agent
from tests.support.client import code, gql
from tests.support.factories import user
from tests.support.gql_ws import connected
from tests.support.realtime import closed_with, open_ws, request
from tests.support.waiting import wait_for

MODERATOR = new_id()  # the actor: a plain id, as the decision endpoint passes its moderator's


async def sanction(svc, u: dict, action: str, hours: int | None = None, **kw) -> tuple[sanctions.Outcome, UUID]:
    decision = new_id()
    async with outbox.transaction(svc) as s:
        out = await sanctions.apply(
            s,
            svc,
            user_id=u["id"],
            action=action,  # type: ignore[arg-type]
            decision_id=decision,
            reason=kw.get("reason", "spam links in comments"),
            rule=kw.get("rule", "spam"),
            duration_hours=hours,
            actor_id=MODERATOR,
        )
    await sanctions.after_commit(svc, out)
    return out, decision


async def revert(svc, decision: UUID) -> sanctions.Outcome:
    async with outbox.transaction(svc) as s:
        out = await sanctions.revert(s, svc, decision_id=decision, actor_id=MODERATOR)
    await sanctions.after_commit(svc, out)
    return out


async def login(client, u: dict):
    return await client.post("/auth/login", json={"email": u["user"]["email"], "password": u["password"]})


async def test_a_suspension_refuses_logins_refreshes_writes_and_closes_sockets(client, api, svc, db, redis):
    u, bystander = await user(client), await user(client)
    second = (await login(client, u)).json()
    ws = await open_ws(api, u["access_token"])
    async with connected(api, {"token": second["access_token"]}) as sub:
        out, decision = await sanction(svc, u, "suspend", hours=24)
        assert out.until is not None and timedelta(hours=23, minutes=59) < out.until - utcnow() <= timedelta(hours=24)
        assert len(out.revoked_session_ids) == 2
        code_, got = await closed_with(ws)
        assert (code_, got[-1]["code"], ws.close_reason) == (4403, "account_suspended", "account_suspended")
        close_code, reason = await sub.closed()
        assert close_code == 4403 and reason.startswith("account_suspended:"), reason

    r = await login(client, u)
    assert code(r) == (403, "account_suspended")
    err = r.json()["error"]
    assert datetime.fromisoformat(err["details"]["until"]) == out.until and out.until.isoformat() in err["message"]
    r = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert code(r) == (403, "account_suspended")  # not "signed out": the client learns why and until when
    # The old access token: its session is revoked (401), and were that lost the write is still refused.
    assert code(await client.post("/posts", json={"caption": "x", "visibility": "public"}, headers=u["headers"])) == (
        401,
        "session_revoked",
    )
    for sid in out.revoked_session_ids:
        await redis.delete(f"auth:revoked:{sid}")
    r = await client.post("/posts", json={"caption": "x", "visibility": "public"}, headers=u["headers"])
    assert code(r) == (403, "account_suspended") and r.json()["error"]["details"]["until"] == out.until.isoformat()
    answer = await gql(client, u, 'mutation { updateProfile(input: {bio: "x"}) { username } }')
    ext = answer["errors"][0]["extensions"]
    assert (ext["code"], ext["status"], ext["details"]["until"]) == ("account_suspended", 403, out.until.isoformat())
    # Reads still work: the app can show why and until when.
    mine = (await client.get("/users/me/restrictions", headers=u["headers"])).json()
    assert mine["restriction"] == {"action": "suspend", "code": "account_suspended", "until": out.until.isoformat()}
    assert [(x["action"], x["rule"], x["reason"], x["active"]) for x in mine["sanctions"]] == [
        ("suspend", "spam", "spam links in comments", True)
    ]
    # Nobody else is touched.
    assert (
        await client.post("/posts", json={"caption": "y", "visibility": "public"}, headers=bystander["headers"])
    ).status_code == 201
    assert (await login(client, bystander)).status_code == 200

    rows = await db.fetch(
        "SELECT action, actor_user_id, details FROM audit_log WHERE subject = $1 AND action LIKE 'moderation.%'",
        f"user:{u['id']}",
    )
    assert [(r["action"], r["actor_user_id"]) for r in rows] == [("moderation.account_suspended", MODERATOR)]
    assert "spam links" not in rows[0]["details"] and str(decision) in rows[0]["details"]
    refused = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'auth.login_refused' AND subject = $1", f"user:{u['id']}"
    )
    assert refused == 1


async def test_a_ban_is_permanent_and_says_so(client, api, svc):
    u = await user(client)
    ws = await open_ws(api, u["access_token"])
    sio, told = socketio.AsyncClient(reconnection=False), asyncio.get_running_loop().create_future()
    sio.on("error", lambda data: told.done() or told.set_result(data))
    await sio.connect(api, auth={"token": (await login(client, u)).json()["access_token"]}, wait_timeout=10)
    out, _ = await sanction(svc, u, "ban", rule="csam", reason="illegal content")
    assert out.until is None
    code_, got = await closed_with(ws)
    assert (code_, got[-1]["code"]) == (4403, "account_banned")
    assert (await asyncio.wait_for(told, 10))["code"] == "account_banned"  # Socket.IO: told, then disconnected
    await wait_for(lambda: not sio.connected, what="the Socket.IO client disconnected")
    r = await login(client, u)
    assert code(r) == (403, "account_banned") and r.json()["error"]["details"]["until"] is None
    assert r.json()["error"]["details"]["appeal_token"]  # a banned account may still appeal
    assert code(await client.post("/auth/refresh", json={"refresh_token": u["refresh_token"]})) == (
        403,
        "account_banned",
    )
    assert (await sanctions.restriction(svc, u["id"])) == sanctions.Restriction("ban", None)


async def test_bad_sanctions_are_refused(svc, client):
    u = await user(client)
    for action, hours in (("suspend", None), ("suspend", 0), ("warn", 5), ("mute", None)):
        with pytest.raises(DomainError) as err:
            await sanction(svc, u, action, hours)
        assert err.value.code == "validation_error", (action, hours)
    with pytest.raises(DomainError) as err:
        await sanction(svc, {"id": new_id()}, "warn")
    assert err.value.code == "user_not_found"
    with pytest.raises(DomainError) as err:
        await revert(svc, new_id())
    assert err.value.code == "sanction_not_found"


async def test_the_third_strike_suspends_and_an_overturned_appeal_restores(client, api, svc):
    u = await user(client)
    _, warned = await sanction(svc, u, "warn")
    firsts = [await sanction(svc, u, "strike") for _ in range(2)]
    assert [o.active_strikes for o, _ in firsts] == [1, 2] and all(o.escalated_until is None for o, _ in firsts)
    assert (await login(client, u)).status_code == 200  # a warning and two strikes: still in

    ws = await open_ws(api, (await login(client, u)).json()["access_token"])
    third, third_decision = await sanction(svc, u, "strike")
    assert third.active_strikes == 3 and third.escalated_until is not None
    assert timedelta(days=6, hours=23) < third.escalated_until - utcnow() <= timedelta(days=7)
    assert (await closed_with(ws))[1][-1]["code"] == "account_suspended"
    r = await login(client, u)
    assert code(r) == (403, "account_suspended")
    assert r.json()["error"]["details"]["until"] == third.escalated_until.isoformat()

    # The appeal against the third strike is upheld: its strike and the suspension it added go.
    back = await revert(svc, third_decision)
    assert back.active_strikes == 2 and len(back.lifted) == 2
    fresh = await login(client, u)
    assert fresh.status_code == 200, fresh.text
    mine = (
        await client.get("/users/me/restrictions", headers={"Authorization": f"Bearer {fresh.json()['access_token']}"})
    ).json()
    assert mine["restriction"] is None and mine["active_strikes"] == 2
    assert [(x["action"], x["automatic"], x["reverted_at"] is not None) for x in mine["sanctions"]] == [
        ("suspend", True, True),
        ("strike", False, True),
        ("strike", False, False),
        ("strike", False, False),
        ("warn", False, False),
    ]
    assert (await revert(svc, third_decision)).lifted == []  # twice: nothing more

    # A new third strike suspends again; overturning an EARLIER strike lifts that suspension too
    # (the policy's count no longer holds), though the later strike itself stands.
    again, _ = await sanction(svc, u, "strike")
    assert again.escalated_until is not None
    assert code(await login(client, u)) == (403, "account_suspended")
    undone = await revert(svc, firsts[0][1])
    assert undone.active_strikes == 2 and len(undone.lifted) == 2
    assert (await login(client, u)).status_code == 200
    assert (await revert(svc, warned)).lifted  # a warning reverts like the rest


async def test_a_suspension_ends_by_itself(client, svc, db):
    u = await user(client)
    out, _ = await sanction(svc, u, "suspend", hours=1)
    # An hour is long for a test: move its end to two seconds from now (and drop the cached copy,
    # as if it had been applied so).
    await db.execute("UPDATE account_sanctions SET until = now() + interval '2 seconds' WHERE user_id = $1", u["id"])
    await svc.redis.delete(f"sanction:{u['id']}")
    assert code(await login(client, u)) == (403, "account_suspended")  # cached now, with its end

    async def free() -> bool:
        return (await login(client, u)).status_code == 200

    await wait_for(free, timeout=15, interval=0.5, what="the suspension to end")
    assert await sanctions.restriction(svc, u["id"]) is None


async def test_restrictions_over_graphql(client, svc):
    u = await user(client)
    await sanction(svc, u, "warn", rule="harassment", reason="insults in replies")
    await sanction(svc, u, "strike", rule="harassment", reason="again")
    data = await gql(
        client,
        u,
        "{ myRestrictions { restriction { code } activeStrikes strikePolicy { windowDays strikesPerSuspension "
        "suspensionDays } sanctions { action rule reason automatic active } } }",
    )
    assert data["data"]["myRestrictions"] == {
        "restriction": None,
        "activeStrikes": 1,
        "strikePolicy": {"windowDays": 90, "strikesPerSuspension": 3, "suspensionDays": 7},
        "sanctions": [
            {"action": "strike", "rule": "harassment", "reason": "again", "automatic": False, "active": True},
            {
                "action": "warn",
                "rule": "harassment",
                "reason": "insults in replies",
                "automatic": False,
                "active": True,
            },
        ],
    }
    # A warning or a strike keeps the account usable.
    assert (
        await client.post("/posts", json={"caption": "ok", "visibility": "public"}, headers=u["headers"])
    ).status_code == 201


async def test_the_user_is_told_the_rule_and_the_reason(client, svc):
    """The notifications agent fed the sanction events directly (no broker): one notice per
    sanction, the moderator unnamed, the reason read from PostgreSQL; redelivery changes nothing."""
    u = await user(client)
    struck, decision = await sanction(svc, u, "strike", rule="hate_speech", reason="slurs in a caption")
    lifted = await revert(svc, decision)

    def event(etype: str, sanction_id: UUID) -> Event:
        payload = {
            "sanction_id": str(sanction_id),
            "user_id": str(u["id"]),
            "decision_id": str(decision),
            "action": "strike",
            "rule": "hate_speech",
            "active_strikes": 1,
        }
        return Event(etype, payload, actor=MODERATOR)

    events = [received(event("account.struck", struck.sanction_ids[0]))]
    events.append(received(event("account.reinstated", lifted.lifted[0])))
    for _ in range(2):  # redelivered: the same two notifications
        await notifications_agent(events, svc)
    page = await notifications.list_for(svc, u["id"])
    assert [(n["kind"], n["text"], n["actors"], n["event_count"]) for n in page["items"]] == [
        ("reinstated", "Your appeal was upheld: the strike (rule: hate_speech) was lifted", [], 1),
        ("sanction", "You received a strike (rule: hate_speech): slurs in a caption", [], 1),
    ]
    assert page["items"][1]["sanction"] == {
        "action": "strike",
        "rule": "hate_speech",
        "reason": "slurs in a caption",
        "until": None,
        "automatic": False,
    }


async def test_a_warning_notice_through_the_broker_and_worker(client, worker, svc):
    u = await user(client)
    out, _ = await sanction(svc, u, "warn", rule="spam", reason="the same link 40 times")
    assert out.revoked_session_ids == []  # a warning leaves the sessions alone

    async def notified():
        r = await client.get("/notifications", headers=u["headers"])
        items = r.json()["items"]
        return items and items[0]

    n = await wait_for(notified, timeout=30, what="the warning notice")
    assert (n["kind"], n["text"]) == ("sanction", "You received a warning (rule: spam): the same link 40 times")
    data = await gql(client, u, "{ notifications { items { kind sanction { action rule reason until } } } }")
    assert data["data"]["notifications"]["items"][0] == {
        "kind": "sanction",
        "sanction": {"action": "warn", "rule": "spam", "reason": "the same link 40 times", "until": None},
    }


async def test_a_socket_send_of_a_restricted_account_is_refused(client, api, redis):
    """The moment between a suspension's commit and its sockets' close: a `typing` is refused
    like a REST write (the restriction set in the cache as `restriction` writes it)."""
    u = await user(client)
    ws = await open_ws(api, u["access_token"])
    until = (utcnow() + timedelta(minutes=5)).isoformat()
    await redis.set(f"sanction:{u['id']}", orjson.dumps({"action": "suspend", "until": until}), ex=60)
    reply = await request(ws, {"type": "typing", "conversation_id": str(new_id())})
    assert (reply["type"], reply["code"]) == ("error", "account_suspended") and until in reply["message"]
    assert await request(ws, {"type": "ping"}) == {"type": "pong"}  # the close is the revocation's job
    await ws.close()
