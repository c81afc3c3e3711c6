"""An attacker's (or a victim's) fresh account, made over HTTP only, as an app would."""

from __future__ import annotations

from uuid import uuid4

import httpx


async def account(c: httpx.AsyncClient) -> tuple[dict, str]:
    """(the Authorization header to send, the new user's id)."""
    tag = uuid4().hex[:10]
    r = await c.post(
        "/auth/register", json={"email": f"a{tag}@example.com", "password": "attacker pass 1", "username": f"a{tag}"}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}, r.json()["user"]["id"]
