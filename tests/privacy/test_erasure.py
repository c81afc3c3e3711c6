"""Account erasure (PDPL): the request and its proof, the grace period (every other call 403,
cancel), and, after it, every store checked against the written rule (models/privacy/erasing.py)."""

from __future__ import annotations

from uuid import UUID

from models.core.base import Base
from models.migrations.metadata import load_all
from models.privacy.erasing import _DELETE_WHERE, RULES, tombstone_username
from tests.support.client import code_of, gql
from tests.support.factories import create_post, likes, register, uid
from tests.support.images import png, upload
from tests.support.waiting import equals, wait_for
from tests.support.wallet import fund


def test_every_table_has_a_written_rule():
    """A new table must say what happens to a leaving user's rows."""
    load_all()
    assert set(Base.metadata.tables) - set(RULES) == set()
    assert set(RULES) - set(Base.metadata.tables) == set()


async def test_proof_grace_period_and_cancel(client, db):
    u = await register(client)
    h = u["headers"]
    wrong = await client.request("DELETE", "/users/me", json={"password": "not it"}, headers=h)
    assert code_of(wrong, 403) == "fresh_proof_required"
    assert code_of(await client.request("DELETE", "/users/me", json={}, headers=h), 403) == "fresh_proof_required"
    assert code_of(await client.request("DELETE", "/users/me", json={"otp_code": "123456"}, headers=h), 403) == (
        "fresh_proof_required"  # no proven phone to have sent it to
    )
    assert (await client.get("/users/me/deletion", headers=h)).json()["state"] == "none"

    r = await client.request("DELETE", "/users/me", json={"password": u["password"]}, headers=h)
    assert r.status_code == 202, r.text
    assert r.json()["state"] == "pending" and r.json()["erase_after"]
    # every other call: 403, on REST and GraphQL alike, and no socket opens
    assert code_of(await client.get("/users/me/consents", headers=h), 403) == "account_pending_deletion"
    assert code_of(await client.post("/posts", json={"caption": "x", "visibility": "public"}, headers=h), 403) == (
        "account_pending_deletion"
    )
    out = await gql(client, u, "{ myConsents { purpose } }")
    assert out["errors"][0]["extensions"]["code"] == "account_pending_deletion"
    status = await gql(client, u, "{ accountDeletion { state eraseAfter } }")
    assert status["data"]["accountDeletion"]["state"] == "pending"
    # a login still works (to cancel), and its token is held to the same rule
    login = await client.post("/auth/login", json={"email": u["user"]["email"], "password": u["password"]})
    assert login.status_code == 200, login.text
    h2 = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert code_of(await client.get("/users/me/consents", headers=h2), 403) == "account_pending_deletion"

    c = await client.post("/users/me/deletion/cancel", headers=h2)
    assert c.status_code == 200, c.text
    assert (await client.get("/users/me/consents", headers=h)).status_code == 200
    assert code_of(await client.post("/users/me/deletion/cancel", headers=h), 409) == "erasure_not_pending"
    row = await db.fetchrow("SELECT state FROM account_erasures WHERE user_id = $1", UUID(uid(u)))
    assert row["state"] == "canceled"

    # GraphQL face: request and cancel
    req = await gql(
        client, u, "mutation($p: String) { requestAccountDeletion(password: $p) { state } }", {"p": u["password"]}
    )
    assert req["data"]["requestAccountDeletion"]["state"] == "pending"
    back = await gql(client, u, "mutation { cancelAccountDeletion { state } }")
    assert back["data"]["cancelAccountDeletion"]["state"] == "canceled"

    # after the grace period: too late to cancel
    await client.request("DELETE", "/users/me", json={"password": u["password"]}, headers=h)
    await db.execute(
        "UPDATE account_erasures SET erase_after = now() - interval '1 minute' WHERE user_id = $1", UUID(uid(u))
    )
    assert code_of(await client.post("/users/me/deletion/cancel", headers=h), 409) == "erasure_started"


async def test_erasure_applies_the_rule_to_every_store(client, db, svc, worker, stack_env):
    u, friend = await register(client), await register(client)
    me, fid = UUID(uid(u)), UUID(uid(friend))
    h, fh = u["headers"], friend["headers"]
    # what a user leaves behind
    avatar = await upload(client, u, png(), path="/users/me/avatar", method="PUT")
    assert avatar.status_code == 200, avatar.text
    image_id = avatar.json()["avatar"]
    mine = await create_post(client, u, "منشوري")
    theirs = await create_post(client, friend, "their post")
    r = await client.post("/interactions/comments", json={"post_id": theirs, "body": "my comment"}, headers=h)
    mine_comment = r.json()["id"]
    reply = await client.post(
        "/interactions/comments", json={"post_id": theirs, "body": "a reply", "parent_id": mine_comment}, headers=fh
    )
    assert reply.status_code == 201, reply.text
    for who, post in ((u, theirs), (friend, mine)):
        r = await client.post("/interactions/reactions", json={"post_id": post, "type": "like"}, headers=who["headers"])
        assert r.status_code == 202
    for a, b in ((u, friend), (friend, u)):
        assert (await client.post(f"/users/{uid(b)}/follow", headers=a["headers"])).status_code in (200, 202)
    for a, b, body in ((u, friend, "from the leaver"), (friend, u, "from the friend")):
        r = await client.post("/interactions/messages", json={"to_user_id": uid(b), "body": body}, headers=a["headers"])
        assert r.status_code == 201, r.text
    assert (await client.put(f"/posts/{theirs}/bookmark", headers=h)).status_code == 204
    circle = await client.post(f"/users/{uid(u)}/circles", json={"name": "close"}, headers=h)
    assert circle.status_code == 201, circle.text
    await client.post("/users/me/consents", json={"purpose": "marketing", "version": "2026-12-01"}, headers=h)
    await fund(svc, me, 500)
    await wait_for(lambda: equals(likes(client, friend, theirs), 1), timeout=30, what="u's like")
    await wait_for(
        lambda: equals(_follow_counts(client, friend), {"followers": 1, "following": 1}), timeout=30, what="follows"
    )

    r = await client.request("DELETE", "/users/me", json={"password": u["password"]}, headers=h)
    assert r.status_code == 202, r.text
    await db.execute("UPDATE account_erasures SET erase_after = now() - interval '1 second' WHERE user_id = $1", me)
    import subprocess
    import sys

    from tests.support.processes import REPO

    job = subprocess.run(
        [sys.executable, "-m", "jobs.erase_accounts"],
        env=stack_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert job.returncode == 0 and "account(s) sent to erasure" in job.stdout, job.stdout + job.stderr

    async def erased():
        row = await db.fetchrow("SELECT state, report FROM account_erasures WHERE user_id = $1", me)
        return row if row["state"] == "erased" else None

    row = await wait_for(erased, timeout=90, what="the erasure agent")

    # deleted: every table of the rule holds nothing of the user
    for table, cols in _DELETE_WHERE.items():
        where = " OR ".join(f"{c} = $1" for c in cols)
        assert await db.fetchval(f"SELECT count(*) FROM {table} WHERE {where}", me) == 0, table
    assert await db.fetchval("SELECT count(*) FROM posts WHERE author_id = $1", me) == 0
    assert await db.fetchval("SELECT count(*) FROM comments WHERE author_id = $1", me) == 0
    assert await db.fetchval("SELECT count(*) FROM comments WHERE id = $1", UUID(reply.json()["id"])) == 0  # the thread
    assert await db.fetchval("SELECT count(*) FROM images WHERE owner_id = $1", me) == 0
    assert not await _stored(stack_env, f"images/{image_id}/") and not await _stored(stack_env, f"exports/{me}/")
    # anonymised: the tombstone holds no identifier
    user = await db.fetchrow("SELECT email, phone, username, password_hash FROM users WHERE id = $1", me)
    assert user["email"] is None and user["phone"] is None and user["username"] == tombstone_username(me)
    assert not user["password_hash"].startswith("$argon2")
    login = await client.post("/auth/login", json={"email": u["user"]["email"], "password": u["password"]})
    assert login.status_code == 401
    assert await db.fetchval("SELECT count(*) FROM notifications WHERE $1 = ANY(actors)", me) == 0
    # edges through events: the friend's counts drop as if unliked and unfollowed
    await wait_for(lambda: equals(likes(client, friend, theirs), 0), timeout=30, what="the like removed")
    await wait_for(
        lambda: equals(_follow_counts(client, friend), {"followers": 0, "following": 0}), timeout=30, what="unfollows"
    )
    # kept, exactly as the rule names: the friend's side of the conversation, the ledger, the audit log
    bodies = [r["body"] for r in await db.fetch("SELECT body FROM messages WHERE sender_id = $1", fid)]
    assert bodies == ["from the friend"]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM wallet_entries e JOIN wallet_accounts a ON a.id = e.account_id WHERE a.user_id = $1",
            me,
        )
        == 1
    )
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE subject = $1", f"user:{me}") > 0
    await wait_for(
        lambda: _zero_counts(db, me), timeout=30, what="the user's own follow counts at zero (user_counters)"
    )
    # Redis: nothing names the user any more
    assert [k async for k in svc.redis.scan_iter(match=f"*{me}*")] == []
    assert row["report"]


async def _follow_counts(client, who) -> dict:
    counts = (await client.get(f"/users/{uid(who)}/profile", headers=who["headers"])).json()["counts"]
    return {"followers": counts["followers"], "following": counts["following"]}


async def _stored(env, prefix: str) -> list[str]:
    from infra.settings import get_settings
    from infra.storage import storage_for

    return await storage_for(get_settings()).list(prefix)


async def _zero_counts(db, me) -> bool:
    return await db.fetchval("SELECT coalesce(sum(abs(count)), 0) FROM user_counters WHERE user_id = $1", me) == 0


def test_docs_show_the_rule_as_written():
    from pathlib import Path

    from models.privacy.erasing import markdown

    assert markdown() in (Path(__file__).parents[2] / "docs" / "privacy.md").read_text()
