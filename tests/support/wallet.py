"""Helpers shared by the wallet tests: funding, roles, verified phones, reading wallets, tips."""

from __future__ import annotations

from uuid import UUID, uuid4

import httpx
from sqlalchemy import text

from models.wallet import ledger
from models.wallet.ledger import ADJUSTMENTS, Leg


async def fund(svc, user_id: str | UUID, amount: int) -> None:
    """Credit a wallet from the adjustments account (a real, balanced ledger movement)."""
    await ledger.post(
        svc,
        kind="adjustment",
        legs=[Leg(amount, user_id=UUID(str(user_id))), Leg(-amount, system=ADJUSTMENTS)],
        metadata={"reason": "test funding"},
    )


async def make_admin(svc, user_id: str) -> None:
    async with svc.sessions() as s, s.begin():
        await s.execute(text("UPDATE users SET role = 'admin' WHERE id = :id"), {"id": UUID(user_id)})
    await svc.redis.delete(f"users:role:{user_id}")  # models/accounts/roles.py cache


async def verify_phone(svc, user_id: str) -> None:
    async with svc.sessions() as s, s.begin():
        await s.execute(text("UPDATE users SET phone_verified_at = now() WHERE id = :id"), {"id": UUID(user_id)})


async def wallet(client: httpx.AsyncClient, user: dict, owner: dict | None = None) -> dict:
    r = await client.get(f"/wallets/{(owner or user)['user']['id']}", headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()


def key() -> dict:
    return {"Idempotency-Key": uuid4().hex}


async def tip(
    client: httpx.AsyncClient, user: dict, to: dict, amount: int, headers: dict | None = None, **extra
) -> httpx.Response:
    return await client.post(
        "/wallets/tips",
        json={"to_user_id": to["user"]["id"], "amount": amount, **extra},
        headers={**user["headers"], **(headers if headers is not None else key())},
    )
