"""Fresh proof: when a session last proved who is behind it (docs/security.md, "Money paths").

A login of any kind (password, phone code, passkey) records the time for its new session, and
`reauth` records it again for the current one (the password once more). Acts that an attacker
holding a stolen token would want most (a cashout to a destination never paid before) need a
proof younger than FRESH_PROOF_WINDOW (5 minutes); a refreshed token is no proof.

The time lives in Redis under `proof:<session id>` with the window as TTL: a missing key is
"no fresh proof", so the check fails closed.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from models.accounts.users import User
from models.core import audit
from models.core.audit import Client
from models.core.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from infra.services import Services

_hasher = PasswordHasher()  # verifies any argon2 hash: the parameters are in the hash


class FreshProofRequired(Forbidden):
    code = "fresh_proof_required"


def _key(session_id: UUID) -> str:
    return f"proof:{session_id}"


async def record(svc: Services, session_id: UUID) -> None:
    window = max(1, int(svc.settings.fresh_proof_window.total_seconds()))
    await svc.redis.set(_key(session_id), int(time.time()), ex=window)


async def require(svc: Services, session_id: UUID | None, why: str) -> None:
    """403 `fresh_proof_required` unless the session proved itself within FRESH_PROOF_WINDOW."""
    if session_id is None or not await svc.redis.exists(_key(session_id)):
        window = int(svc.settings.fresh_proof_window.total_seconds())
        raise FreshProofRequired(
            f"{why} needs a fresh proof: confirm your password (POST /auth/reauth) or log in again",
            details={"window_s": window},
        )


async def reauth(svc: Services, *, user_id: UUID, session_id: UUID, password: str, client: Client | None) -> dict:
    """The session's user gives the password again: the session counts as freshly proven."""
    async with svc.sessions() as s:
        user = await s.get(User, user_id)
    try:
        ok = user is not None and await asyncio.to_thread(_hasher.verify, user.password_hash, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        await audit.record(svc, "auth.reauth_failed", client, actor=user_id, subject=f"session:{session_id}")
        raise Unauthorized("the password is not right", code="invalid_credentials")
    await record(svc, session_id)
    await audit.record(svc, "auth.reauth", client, actor=user_id, subject=f"session:{session_id}")
    return {"fresh_until": int(time.time() + svc.settings.fresh_proof_window.total_seconds())}
