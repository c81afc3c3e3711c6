"""Bearer-token guard and rate limits shared by REST, GraphQL and the websocket.

The client IP is `request.remote_addr`, set by api/client_ip.py: the peer address, or the
X-Forwarded-For client when the peer is one of TRUSTED_PROXIES (docs/security.md).
"""

from __future__ import annotations

from functools import wraps
from uuid import UUID

from quart import Quart, current_app, g, request

from models.accounts import roles, sessions
from models.accounts.sessions import Principal
from models.core import audit, ratelimit
from models.core.audit import Client
from models.core.errors import DomainError
from models.moderation import sanctions
from models.privacy import erasure

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Writes a suspended account may still make: ending its own sessions.
UNRESTRICTED_WRITES = frozenset({"auth.logout", "auth.revoke_session"})


def svc():
    return current_app.config["SERVICES"]


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def client() -> Client:
    return Client(ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))


async def principal(token: str | None) -> Principal:
    """Signature, expiry, type and a revoked session all answer 401 (models/accounts/sessions.py)."""
    return await sessions.authenticate(svc(), token)


async def user_from_token(token: str | None) -> UUID:
    return (await principal(token)).user_id


async def limit(rule: str, rate, subjects: list[str], actor: UUID | None = None, cost: int = 1) -> None:
    """Count this request (RateLimited -> 429); the X-RateLimit-* headers ride on the response."""
    g.rate_limit = await ratelimit.enforce(svc(), rule, rate, subjects, client(), actor, cost)


async def limit_api(who: Principal) -> None:
    await limit("api", svc().settings.rate_limit_api, [f"user:{who.user_id}"], who.user_id)


async def limit_write(user_id: UUID, writes: int = 1) -> None:
    """RATE_LIMIT_WRITE per user: a REST write is one, a GraphQL mutation one per root field."""
    await limit("write", svc().settings.rate_limit_write, [f"user:{user_id}"], user_id, cost=writes)


async def limit_anonymous(requests: int = 1) -> None:
    """RATE_LIMIT_ANONYMOUS per client IP: every request without a valid bearer token (public REST
    reads, GET /p/{id}; GraphQL: one per request and one per root mutation field)."""
    await limit("anonymous", svc().settings.rate_limit_anonymous, [f"ip:{request.remote_addr}"], cost=requests)


async def limit_login(email: str) -> None:
    await limit(
        "login",
        svc().settings.rate_limit_login,
        [f"ip:{request.remote_addr}", f"email:{audit.email_digest(svc(), email)}"],
    )


async def limit_register() -> None:
    await limit("register", svc().settings.rate_limit_register, [f"ip:{request.remote_addr}"])


async def ensure_may_write(user_id: UUID) -> None:
    """403 account_suspended (details.until) / account_banned for a token issued before its
    account was suspended (the sessions are revoked too; this holds if that was missed). One
    Redis GET (models/moderation/sanctions.restriction)."""
    await sanctions.ensure_may_write(svc(), user_id)


# What an account in its deletion grace period may still call (models/privacy/erasure.py).
PENDING_DELETION_ALLOWED = frozenset({"privacy.cancel_deletion", "privacy.deletion_status", "auth.logout"})


async def admit_pending_deletion(who: Principal) -> None:
    """403 `account_pending_deletion` for every call but cancelling (and reading) the deletion."""
    if request.endpoint not in PENDING_DELETION_ALLOWED:
        await erasure.ensure_not_pending(svc(), who.user_id)


def auth_required(func):
    """Authenticates the bearer token, counts the request against RATE_LIMIT_API (and a write
    against RATE_LIMIT_WRITE, then refuses it for a suspended account), and sets g.user_id,
    g.session_id."""

    @wraps(func)
    async def wrapper(*args, **kwargs):
        who = await principal(bearer_token())
        await admit_pending_deletion(who)
        g.user_id, g.session_id = who.user_id, who.session_id
        await limit_api(who)
        if request.method in WRITE_METHODS:
            await limit_write(who.user_id)
            if request.endpoint not in UNRESTRICTED_WRITES:
                await ensure_may_write(who.user_id)
        return await func(*args, **kwargs)

    wrapper._daira_auth = "required"  # type: ignore[attr-defined]  # read by api/openapi.py

    return wrapper


async def optional_principal() -> Principal | None:
    """None when the request carries no Authorization header (an anonymous caller, a stranger to
    everyone). Any header that is there must hold a valid bearer token, else 401: an expired
    token still tells the app to refresh instead of silently reading as a stranger."""
    if not request.headers.get("Authorization"):
        return None
    return await principal(bearer_token())


def optional_user(func):
    """For public reads (a public post, profile, media, trending): like auth_required with a
    token; without one g.user_id is None and the request counts against RATE_LIMIT_ANONYMOUS per
    client IP."""

    @wraps(func)
    async def wrapper(*args, **kwargs):
        who = await optional_principal()
        if who is None:
            g.user_id, g.session_id = None, None
            await limit_anonymous()
        else:
            await admit_pending_deletion(who)
            g.user_id, g.session_id = who.user_id, who.session_id
            await limit_api(who)
        return await func(*args, **kwargs)

    wrapper._daira_auth = "optional"  # type: ignore[attr-defined]
    return wrapper


def role_required(*allowed: str):
    """auth_required, then 403 `forbidden_role` unless the caller's current role is one of
    `allowed`. The role is read through a short cache (models/accounts/roles.py), never from the JWT, so a
    demoted admin loses admin power within ROLE_CACHE_TTL. Sets g.role."""

    def decorator(func):
        @auth_required
        @wraps(func)
        async def wrapper(*args, **kwargs):
            g.role = await roles.require(svc(), g.user_id, allowed)
            return await func(*args, **kwargs)

        wrapper._daira_auth = "role"  # type: ignore[attr-defined]
        return wrapper

    return decorator


def register(app: Quart) -> None:
    @app.after_request
    async def _rate_limit_headers(response):
        verdict = g.get("rate_limit")
        if verdict is not None:
            for k, v in verdict.headers().items():
                response.headers.setdefault(k, v)
        return response


def parse_id(value: str, what: str = "id") -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise DomainError(f"{what} is not a valid UUID", code="invalid_id") from None
