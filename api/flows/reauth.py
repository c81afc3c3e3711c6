"""Fresh proof for the current session: run alike by the REST route and the GraphQL resolver."""

from __future__ import annotations

from uuid import UUID

from quart import request

from api.auth import client, limit, svc
from models.accounts import fresh_proof


async def do_reauth(user_id: UUID, session_id: UUID, password: str) -> dict:
    """RATE_LIMIT_LOGIN per IP and per account, like a login: no password guessing through here."""
    await limit("login", svc().settings.rate_limit_login, [f"ip:{request.remote_addr}", f"user:{user_id}"])
    return await fresh_proof.reauth(svc(), user_id=user_id, session_id=session_id, password=password, client=client())
