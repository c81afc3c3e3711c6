"""Accounts, posts and reports made through the real API (and the make_admin job)."""

from __future__ import annotations

import subprocess
import sys
from uuid import UUID, uuid4

import httpx

from tests.support.processes import REPO


async def register(client: httpx.AsyncClient, **over) -> dict:
    tag = uuid4().hex[:10]
    body = {"email": f"u{tag}@example.com", "password": "correct horse 1", "username": f"u{tag}", **over}
    r = await client.post("/auth/register", json=body)
    assert r.status_code == 201, r.text
    data = r.json()
    data["headers"] = {"Authorization": f"Bearer {data['access_token']}"}
    data["password"] = body["password"]
    return data


async def signup(c: httpx.AsyncClient, **fields) -> dict:
    """A registration without an email (the caller gives the phone, or nothing)."""
    tag = uuid4().hex[:10]
    body = {"password": "correct horse 1", "username": f"p{tag}", **fields}
    r = await c.post("/auth/register", json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    out["headers"] = {"Authorization": f"Bearer {out['access_token']}"}
    return out


async def proven_phone_user(c: httpx.AsyncClient, db, phone: str, **fields) -> dict:
    """An account holding `phone` as proven, set in the database (proofs themselves are tested in
    tests/accounts/test_phone_claims.py and test_auth_otp.py)."""
    u = await signup(c, email=f"m{uuid4().hex[:10]}@example.com", phone=phone, **fields)
    await db.execute("UPDATE users SET phone_verified_at = now() WHERE id = $1", UUID(u["user"]["id"]))
    return u


async def user(client: httpx.AsyncClient) -> dict:
    """A registered user with its id as a UUID under "id"."""
    u = await register(client)
    u["id"] = UUID(u["user"]["id"])
    return u


def uid(user: dict) -> str:
    return user["user"]["id"]


async def create_post(client: httpx.AsyncClient, user: dict, caption: str = "hello") -> str:
    r = await client.post("/posts", json={"caption": caption, "visibility": "public"}, headers=user["headers"])
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def likes(client: httpx.AsyncClient, user: dict, post_id: str) -> int:
    r = await client.get(f"/posts/{post_id}/counters", headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()["likes"]


def make_admin_job(env: dict, email: str) -> subprocess.CompletedProcess:
    """Run `python -m jobs.make_admin EMAIL` against the stack of `env`."""
    return subprocess.run(
        [sys.executable, "-m", "jobs.make_admin", email], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )


async def admin_user(client: httpx.AsyncClient, env: dict) -> dict:
    """A fresh admin (the role that may also work the moderation queue), made by the make_admin job."""
    user = await register(client)
    done = make_admin_job(env, user["user"]["email"])
    assert done.returncode == 0, done.stderr
    return user


async def moderator_user(client: httpx.AsyncClient, env: dict) -> dict:
    """A fresh moderator, promoted by a fresh admin (make_admin)."""
    admin, mod = await admin_user(client, env), await register(client)
    r = await client.put(f"/admin/users/{mod['user']['id']}/role", json={"role": "moderator"}, headers=admin["headers"])
    assert r.status_code == 200 and r.json()["role"] == "moderator", r.text
    return mod


async def report(client: httpx.AsyncClient, user: dict, target_type: str, target_id: str, reason: str = "spam"):
    return await client.post(
        "/reports", headers=user["headers"], json={"target_type": target_type, "target_id": target_id, "reason": reason}
    )


async def clones(db, of: UUID, n: int) -> list[UUID]:
    """`n` more users copied in one INSERT from the registered user `of` (a fresh id, email and
    username; no phone): members for a big group without n password hashes. They cannot log in."""
    cols = [
        r["column_name"]
        for r in await db.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'users' ORDER BY ordinal_position"
        )
    ]
    fresh = {
        "id": "gen_random_uuid()",
        "email": "'c' || md5(random()::text || g) || '@example.com'",
        "username": "'c' || substr(md5(random()::text || g), 1, 20)",
        "phone": "NULL",
    }
    exprs = ", ".join(fresh.get(c, f'u."{c}"') for c in cols)
    names = ", ".join(f'"{c}"' for c in cols)
    rows = await db.fetch(
        f"INSERT INTO users ({names}) SELECT {exprs} FROM users u, generate_series(1, $2) g WHERE u.id = $1 "
        "RETURNING id",
        of,
        n,
    )
    return [r["id"] for r in rows]
