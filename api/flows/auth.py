"""Register, password login and refresh: run alike by the REST routes and the GraphQL resolvers."""

from __future__ import annotations

from quart import request

from api.auth import client, limit, limit_login, limit_register, svc
from api.inputs.auth import LoginIn, RefreshIn, RegisterIn
from models.accounts import sessions, users


async def do_register(data: RegisterIn) -> dict:
    """Register and log in (REST and GraphQL): RATE_LIMIT_REGISTER per IP."""
    await limit_register()
    phone = users.normalize_phone(svc(), data.phone) if data.phone else None
    user = await users.register(
        svc(), email=data.email, phone=phone, password=data.password, username=data.username, client=client()
    )
    return await sessions.token_pair(svc(), user, client(), method="register")


async def do_login(data: LoginIn) -> dict:
    """Password login by email or phone (REST and GraphQL): RATE_LIMIT_LOGIN per IP and per account."""
    if data.email:
        await limit_login(data.email)
        user = await users.authenticate(svc(), email=data.email, password=data.password, client=client())
    else:
        phone = users.normalize_phone(svc(), data.phone)
        await limit(
            "login", svc().settings.rate_limit_login, [f"ip:{request.remote_addr}", users.phone_subject(svc(), phone)]
        )
        user = await users.authenticate(svc(), phone=phone, password=data.password, client=client())
    return await sessions.token_pair(svc(), user, client())


async def do_refresh(data: RefreshIn) -> dict:
    """A new token pair; the presented refresh token is spent (a spent one revokes its session)."""
    return await sessions.refresh(svc(), data.refresh_token, client())
