"""Sessions: refresh-token rotation and reuse detection, logout, listing and revoking sessions,
JWT hardening, the GraphQL faces, and the audit log they write."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import jwt
import pytest

from models.accounts import token_keys
from tests.support.factories import register


async def login(client, user: dict, **headers) -> dict:
    r = await client.post(
        "/auth/login", json={"email": user["user"]["email"], "password": user["password"]}, headers=headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    body["headers"] = {"Authorization": f"Bearer {body['access_token']}"}
    return body


async def refresh(client, token: str):
    return await client.post("/auth/refresh", json={"refresh_token": token})


def error(r, status: int) -> str:
    assert r.status_code == status, r.text
    return r.json()["error"]["code"]


async def test_refresh_rotates_and_reuse_revokes_the_family(client, db):
    user = await register(client)
    r = await refresh(client, user["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert set(second) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert second["user"] == user["user"] and second["token_type"] == "bearer" and second["expires_in"] > 0
    assert second["refresh_token"] != user["refresh_token"]
    sid = jwt.decode(second["access_token"], options={"verify_signature": False})["sid"]
    assert sid == jwt.decode(user["access_token"], options={"verify_signature": False})["sid"]  # same session
    third = (await refresh(client, second["refresh_token"])).json()
    headers = {"Authorization": f"Bearer {third['access_token']}"}
    assert (await client.get("/auth/sessions", headers=headers)).status_code == 200

    # only SHA-256 hashes are stored
    rows = await db.fetch("SELECT token_hash, used_at FROM refresh_tokens WHERE session_id = $1 ORDER BY id", sid)
    assert [row["token_hash"] for row in rows] == [
        hashlib.sha256(t.encode()).hexdigest()
        for t in (user["refresh_token"], second["refresh_token"], third["refresh_token"])
    ]
    assert [row["used_at"] is not None for row in rows] == [True, True, False]

    # the first token again: reuse -> the whole family is revoked
    assert error(await refresh(client, user["refresh_token"]), 401) == "refresh_token_reused"
    assert error(await refresh(client, third["refresh_token"]), 401) == "refresh_token_revoked"
    assert error(await client.get("/auth/sessions", headers=headers), 401) == "session_revoked"
    assert error(await client.get("/auth/sessions", headers=user["headers"]), 401) == "session_revoked"
    assert (
        await db.fetchval("SELECT count(*) FROM refresh_tokens WHERE session_id = $1 AND revoked_at IS NULL", sid) == 0
    )
    assert await db.fetchval("SELECT revoked_at IS NOT NULL FROM auth_sessions WHERE id = $1", sid)
    # another login of the same user is unaffected
    fresh = await login(client, user)
    assert (await client.get("/auth/sessions", headers=fresh["headers"])).status_code == 200


async def test_concurrent_refreshes_with_one_token_count_as_reuse(client):
    user = await register(client)
    results = await asyncio.gather(*(refresh(client, user["refresh_token"]) for _ in range(2)))
    assert sorted(r.status_code for r in results) == [200, 401]
    winner = next(r for r in results if r.status_code == 200).json()
    loser = next(r for r in results if r.status_code == 401)
    assert loser.json()["error"]["code"] == "refresh_token_reused"
    assert error(await refresh(client, winner["refresh_token"]), 401) == "refresh_token_revoked"


async def test_unknown_expired_and_malformed_refresh_tokens(client, db):
    assert error(await refresh(client, "not-a-token"), 401) == "invalid_refresh_token"
    assert error(await client.post("/auth/refresh", json={}), 422) == "validation_error"
    assert error(await client.post("/auth/refresh", json={"refresh_token": ""}), 422) == "validation_error"
    assert error(await client.post("/auth/refresh", json={"refresh_token": "x" * 600}), 422) == "validation_error"
    user = await register(client)
    await db.execute(
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
        hashlib.sha256(user["refresh_token"].encode()).hexdigest(),
    )
    assert error(await refresh(client, user["refresh_token"]), 401) == "refresh_token_expired"


async def test_logout_revokes_only_the_current_session(client):
    user = await register(client)
    other = await login(client, user)
    r = await client.post("/auth/logout", headers=user["headers"])
    assert r.status_code == 204 and r.content == b""
    assert error(await client.get("/auth/sessions", headers=user["headers"]), 401) == "session_revoked"
    assert error(await client.post("/auth/logout", headers=user["headers"]), 401) == "session_revoked"
    assert error(await refresh(client, user["refresh_token"]), 401) == "refresh_token_revoked"
    listed = await client.get("/auth/sessions", headers=other["headers"])
    assert listed.status_code == 200
    assert [(s["current"]) for s in listed.json()["items"]] == [True]
    assert error(await client.post("/auth/logout"), 401) == "unauthorized"


async def test_list_and_revoke_own_sessions(client):
    user = await register(client)
    phone = await login(client, user, **{"User-Agent": "DairaApp/1.0 (Android 14)"})
    laptop = await login(client, user, **{"User-Agent": "Mozilla/5.0 laptop"})
    r = await client.get("/auth/sessions", headers=phone["headers"])
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["next_cursor"] is None and len(page["items"]) == 3
    assert set(page["items"][0]) == {"id", "created_at", "last_used_at", "ip", "user_agent", "current"}
    by_ua = {s["user_agent"]: s for s in page["items"]}
    assert by_ua["DairaApp/1.0 (Android 14)"]["current"] is True
    assert [s["current"] for s in page["items"]].count(True) == 1
    assert all(s["ip"] == "127.0.0.1" for s in page["items"])
    assert [s["id"] for s in page["items"]] == sorted((s["id"] for s in page["items"]), reverse=True)

    # pagination
    first = (await client.get("/auth/sessions?limit=2", headers=phone["headers"])).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (await client.get(f"/auth/sessions?limit=2&cursor={first['next_cursor']}", headers=phone["headers"])).json()
    assert [s["id"] for s in first["items"] + rest["items"]] == [s["id"] for s in page["items"]]
    assert rest["next_cursor"] is None
    assert error(await client.get("/auth/sessions?cursor=%%%", headers=phone["headers"]), 400) == "invalid_cursor"
    assert error(await client.get("/auth/sessions?limit=0", headers=phone["headers"]), 422) == "validation_error"

    # someone else's session is not found; a bad id is a 400
    stranger = await register(client)
    laptop_sid = by_ua["Mozilla/5.0 laptop"]["id"]
    assert (
        error(await client.delete(f"/auth/sessions/{laptop_sid}", headers=stranger["headers"]), 404)
        == "session_not_found"
    )
    assert error(await client.delete("/auth/sessions/nope", headers=phone["headers"]), 400) == "invalid_id"
    assert (await client.get("/auth/sessions", headers=laptop["headers"])).status_code == 200

    # revoking one's own other session logs that device out at once
    assert (await client.delete(f"/auth/sessions/{laptop_sid}", headers=phone["headers"])).status_code == 204
    assert (await client.delete(f"/auth/sessions/{laptop_sid}", headers=phone["headers"])).status_code == 204
    assert error(await client.get("/auth/sessions", headers=laptop["headers"]), 401) == "session_revoked"
    assert error(await refresh(client, laptop["refresh_token"]), 401) == "refresh_token_revoked"
    left = (await client.get("/auth/sessions", headers=phone["headers"])).json()["items"]
    assert laptop_sid not in {s["id"] for s in left} and len(left) == 2


def _b64(obj) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_tokens(user: dict, secret: str) -> list[tuple[str, str, str]]:
    good = user["access_token"]
    claims = jwt.decode(good, options={"verify_signature": False})
    now = datetime.now(UTC)
    soon = now + timedelta(minutes=5)
    header, payload, sig = good.split(".")
    mid = len(sig) // 2
    flipped = sig[:mid] + ("A" if sig[mid] != "A" else "B") + sig[mid + 1 :]
    other_payload = _b64({**claims, "sub": str(uuid4())})

    kid, key = token_keys.derive(secret)

    def signed(**over):
        body = {k: v for k, v in {**claims, "exp": soon, **over}.items() if v is not None}
        return jwt.encode(body, key, algorithm="HS256", headers={"kid": kid})

    return [
        ("expired", signed(exp=now - timedelta(seconds=5)), "token_expired"),
        ("tampered signature", f"{header}.{payload}.{flipped}", "invalid_token"),
        ("tampered payload", f"{header}.{other_payload}.{sig}", "invalid_token"),
        ("alg none", f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.", "invalid_token"),
        ("alg None", f"{_b64({'alg': 'None', 'typ': 'JWT'})}.{payload}.", "invalid_token"),
        (
            "HS512 with the right secret",
            jwt.encode({**claims, "exp": soon}, key, algorithm="HS512", headers={"kid": kid}),
            "invalid_token",
        ),
        ("another secret", jwt.encode({**claims, "exp": soon}, "x" * 40, algorithm="HS256"), "invalid_token"),
        ("the raw secret, no kid", jwt.encode({**claims, "exp": soon}, secret, algorithm="HS256"), "invalid_token"),
        (
            "the raw secret, the right kid",
            jwt.encode({**claims, "exp": soon}, secret, algorithm="HS256", headers={"kid": kid}),
            "invalid_token",
        ),
        ("missing type", signed(type=None), "invalid_token"),
        ("missing sid", signed(sid=None), "invalid_token"),
        ("wrong type", signed(type="refresh"), "wrong_token_type"),
        ("refresh token as access", user["refresh_token"], "invalid_token"),
        ("garbage", "a.b.c", "invalid_token"),
    ]


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_jwt_hardening(client, stack_env):
    user = await register(client)
    for name, token, code in _bad_tokens(user, stack_env["JWT_SECRET"]):
        r = await client.get("/auth/sessions", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and r.json()["error"]["code"] == code, (name, r.text)
        g = await client.post("/graphql", json={"query": "{ me { id } }"}, headers={"Authorization": f"Bearer {token}"})
        assert g.json()["errors"][0]["extensions"]["code"] == code, (name, g.text)
    assert (await client.get("/auth/sessions", headers=user["headers"])).status_code == 200


async def test_graphql_faces(client):
    user = await register(client)

    async def gql(query: str, token: str | None = None, **variables):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
        return r.json()

    logged = await gql(
        "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken refreshToken } }",
        e=user["user"]["email"],
        p=user["password"],
    )
    access = logged["data"]["login"]["accessToken"]
    refreshed = await gql(
        "mutation($t: String!) { refresh(refreshToken: $t) "
        "{ accessToken refreshToken tokenType expiresIn user { id } } }",
        t=logged["data"]["login"]["refreshToken"],
    )
    out = refreshed["data"]["refresh"]
    assert out["user"]["id"] == user["user"]["id"] and out["tokenType"] == "bearer"
    reused = await gql(
        "mutation($t: String!) { refresh(refreshToken: $t) { accessToken } }", t=logged["data"]["login"]["refreshToken"]
    )
    assert reused["errors"][0]["extensions"]["code"] == "refresh_token_reused"
    assert (await gql("{ me { id } }", access))["errors"][0]["extensions"]["code"] == "session_revoked"

    listed = await gql("{ sessions { id createdAt lastUsedAt ip userAgent current } }", user["access_token"])
    sessions = listed["data"]["sessions"]
    assert len(sessions) == 1 and sessions[0]["current"] is True and sessions[0]["ip"] == "127.0.0.1"
    assert set(sessions[0]) == {"id", "createdAt", "lastUsedAt", "ip", "userAgent", "current"}

    stranger = await register(client)
    denied = await gql("mutation($id: ID!) { revokeSession(id: $id) }", stranger["access_token"], id=sessions[0]["id"])
    assert denied["errors"][0]["extensions"]["code"] == "session_not_found"
    second = await login(client, user)
    revoked = await gql("mutation($id: ID!) { revokeSession(id: $id) }", second["access_token"], id=sessions[0]["id"])
    assert revoked["data"]["revokeSession"] is True
    assert (await gql("{ me { id } }", user["access_token"]))["errors"][0]["extensions"]["code"] == "session_revoked"
    assert (await gql("mutation { logout }", second["access_token"]))["data"]["logout"] is True
    assert (await gql("{ sessions { id } }", second["access_token"]))["errors"][0]["extensions"][
        "code"
    ] == "session_revoked"
    anon = await gql("mutation { logout }")
    assert anon["errors"][0]["extensions"]["code"] == "unauthorized"


async def test_audit_log_records_every_auth_event_and_no_secret(client, db):
    user = await register(client, password="Sup3r secret pass")
    uid = user["user"]["id"]
    headers = {"User-Agent": "audit-test/1.0"}
    wrong = await client.post(
        "/auth/login", json={"email": user["user"]["email"], "password": "not the one 1"}, headers=headers
    )
    assert wrong.status_code == 401
    ghost = f"ghost{uuid4().hex[:8]}@example.com"
    assert (await client.post("/auth/login", json={"email": ghost, "password": "Gh0st password"})).status_code == 401
    second = await login(client, user, **headers)
    rotated = (await refresh(client, second["refresh_token"])).json()
    assert error(await refresh(client, second["refresh_token"]), 401) == "refresh_token_reused"
    third = await login(client, user)
    assert error(await refresh(client, rotated["refresh_token"]), 401) == "refresh_token_revoked"
    fourth = await login(client, user)
    sid4 = jwt.decode(fourth["access_token"], options={"verify_signature": False})["sid"]
    assert (await client.delete(f"/auth/sessions/{sid4}", headers=third["headers"])).status_code == 204
    assert (await client.post("/auth/logout", headers=third["headers"])).status_code == 204

    sids = [
        jwt.decode(t["access_token"], options={"verify_signature": False})["sid"] for t in (user, second, third, fourth)
    ]
    subjects = [f"user:{uid}"] + [f"session:{s}" for s in sids]
    rows = await db.fetch(
        "SELECT * FROM audit_log WHERE actor_user_id = $1 OR subject = ANY($2::text[]) ORDER BY id", uid, subjects
    )
    actions = [r["action"] for r in rows]
    assert set(actions) == {
        "auth.register",
        "auth.login",
        "auth.login_failed",
        "auth.refresh",
        "auth.refresh_reused",
        "auth.refresh_failed",
        "auth.session_revoked",
        "auth.logout",
    }
    assert actions[:2] == ["auth.register", "auth.login"] and actions.count("auth.login") == 4
    failed = next(r for r in rows if r["action"] == "auth.login_failed")
    assert failed["subject"] == f"user:{uid}" and failed["actor_user_id"] is None
    assert failed["user_agent"] == "audit-test/1.0" and failed["ip"] == "127.0.0.1"
    reused = next(r for r in rows if r["action"] == "auth.refresh_reused")
    assert reused["subject"] == f"session:{sids[1]}" and json.loads(reused["details"])["user_id"] == uid
    logout = next(r for r in rows if r["action"] == "auth.logout")
    assert logout["actor_user_id"] is not None and str(logout["actor_user_id"]) == uid
    assert logout["subject"] == f"session:{sids[2]}"
    # the unknown address is recorded as a keyed hash, never in the clear
    ghost_rows = await db.fetch(
        "SELECT subject FROM audit_log WHERE action = 'auth.login_failed' "
        "AND subject LIKE 'email:%' ORDER BY id DESC LIMIT 5"
    )
    assert ghost_rows and all(len(r["subject"]) == len("email:") + 64 for r in ghost_rows)

    everything = "\n".join(str(dict(r)) for r in await db.fetch("SELECT * FROM audit_log"))
    secrets_used = [user["password"], "not the one 1", "Gh0st password", ghost, user["user"]["email"]]
    for t in (user, second, rotated, third, fourth):
        secrets_used += [t["access_token"], t["refresh_token"]]
    for secret in secrets_used:
        assert secret not in everything
        assert hashlib.sha256(secret.encode()).hexdigest() not in everything  # not even the stored hash
