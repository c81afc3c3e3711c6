"""Proving a phone: WhatsApp one-time codes (`otp`) and flash calls (`flash_call`), one state machine.

`request` delivers a code through the channel's provider (infra/providers) and records a
*pending* verification in Redis under `phonever:<channel>:<phone>`: the code's HMAC (keyed from
JWT_SECRET, bound to the phone; the code itself is never stored) — or, for a Sinch flash call,
only Sinch's verification id, since Sinch alone knows the calling number — its expiry (OTP_TTL)
and an attempt counter. `verify` counts the attempt *before* checking (one Lua call, so parallel
guesses cannot overrun the limit); the OTP_MAX_ATTEMPTS-th wrong code deletes the pending code
and locks the phone for OTP_LOCKOUT on both channels. A right code is consumed by a
compare-and-delete, so it logs in at most once.

Resends: one per OTP_RESEND_COOLDOWN per channel and phone, and a resend keeps the attempt
counter (a new code does not buy new guesses). Delivery failure: 503, no new code is stored
(an earlier one stays valid) and the cool-down is released.

What a proven phone does (`_complete`): with a caller (a valid bearer token) the phone becomes
the caller's verified phone (409 phone_taken if another account holds it). Without one it logs
into the account that holds the phone if that phone is verified, or if the account was opened
with the phone alone (its phone is its identity; it becomes verified). Otherwise 401
no_account_for_phone. Requests are answered the same whether or not an account holds the phone;
only someone who received the code can learn it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from infra import providers
from infra.providers import ProviderError
from models.accounts.users import User, phone_subject
from models.core import audit, outbox
from models.core.audit import Client
from models.core.base import utcnow
from models.core.errors import Conflict, DomainError, Unauthorized
from models.core.events import Event

if TYPE_CHECKING:
    from infra.services import Services

Channel = Literal["otp", "flash_call"]

# Count one attempt on the pending hash KEYS[1] and return the hash (HGETALL), or -1 if none.
_ATTEMPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
return redis.call('HGETALL', KEYS[1])
"""
# Delete the pending hash only if it still holds the code that was checked (a resend replaces it).
_CONSUME = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Locked(DomainError):
    status, code = 429, "phone_locked"

    def __init__(self, retry_after: int):
        super().__init__(
            f"too many wrong codes for this phone; retry in {retry_after} s", details={"retry_after": retry_after}
        )
        self.headers = {"Retry-After": str(retry_after)}


class TooSoon(DomainError):
    status, code = 429, "resend_too_soon"

    def __init__(self, retry_after: int):
        super().__init__(f"a code was just sent; ask again in {retry_after} s", details={"retry_after": retry_after})
        self.headers = {"Retry-After": str(retry_after)}


class ProviderFailed(DomainError):
    status = 503

    def __init__(self, exc: ProviderError):
        super().__init__(
            "the code could not be delivered; retry shortly"
            if exc.retryable
            else "the messaging provider refused the request",
            code="provider_unavailable" if exc.retryable else "provider_rejected",
            details=exc.detail,
        )
        self.headers = {"Retry-After": "5"}


@dataclass(frozen=True)
class Proven:
    user: User
    verified_now: bool  # the phone became verified by this proof
    caller: bool  # True: the caller's phone was verified; False: a login


def _pending_key(channel: Channel, phone: str) -> str:
    return f"phonever:{channel}:{phone}"


def _cooldown_key(channel: Channel, phone: str) -> str:
    return f"phonever:cooldown:{channel}:{phone}"


def _lock_key(phone: str) -> str:
    return f"phonever:lock:{phone}"


def code_hash(svc: Services, phone: str, code: str) -> str:
    key = hashlib.sha256(b"daira-phone-code:" + svc.settings.jwt_secret.encode()).digest()
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _seconds(td) -> int:
    return max(1, math.ceil(td.total_seconds()))


async def _check_lock(svc: Services, phone: str) -> None:
    ttl = await svc.redis.ttl(_lock_key(phone))
    if ttl and ttl > 0:
        raise Locked(ttl)


async def _holder(s: AsyncSession, phone: str) -> User | None:
    return (await s.execute(select(User).where(User.phone == phone))).scalar_one_or_none()


async def _subject(svc: Services, phone: str) -> str:
    async with svc.sessions() as db:
        holder = await _holder(db, phone)
    return f"user:{holder.id}" if holder else phone_subject(svc, phone)


async def _audit(svc, action: str, phone: str, client: Client | None, caller: UUID | None, details: dict) -> None:
    """An audit record about `phone`: its subject is the account holding it, else the phone's digest."""
    await audit.record(svc, action, client, actor=caller, subject=await _subject(svc, phone), details=details)


async def request(
    svc: Services, channel: Channel, phone: str, *, caller: UUID | None = None, client: Client | None = None
) -> dict:
    """Send a code to `phone` (E.164, see users.normalize_phone) through `channel`."""
    await _check_lock(svc, phone)
    if caller is not None:
        async with svc.sessions() as db:
            holder = await _holder(db, phone)
        if holder is not None and holder.id != caller:
            raise Conflict("this phone belongs to another account", code="phone_taken")
    cfg = svc.settings
    cooldown = _cooldown_key(channel, phone)
    if not await svc.redis.set(cooldown, 1, ex=_seconds(cfg.otp_resend_cooldown), nx=True):
        raise TooSoon(max(1, await svc.redis.ttl(cooldown)))
    out: dict = {
        "channel": channel,
        "expires_in": _seconds(cfg.otp_ttl),
        "resend_after": _seconds(cfg.otp_resend_cooldown),
    }
    provider: providers.OtpSender | providers.FlashCaller
    fields: dict  # of the pending code's hash
    try:
        if channel == "otp":
            code = f"{secrets.randbelow(10**6):06d}"
            provider = providers.otp_sender(cfg)
            ref = await provider.send_code(phone, code)
            fields = {"h": code_hash(svc, phone, code), "ref": ref}
        else:
            provider = providers.flash_caller(cfg)
            started = await provider.start(phone)
            ref = started.id
            # A local code is checked here (its length says how many trailing digits count).
            local = started.local_code or ""
            fields = {"h": code_hash(svc, phone, local) if local else "", "digits": len(local), "ref": ref}
            out |= {"cli_filter": started.cli_filter, "interception_timeout": started.interception_timeout}
    except ProviderError as exc:
        await svc.redis.delete(cooldown)
        await _audit(svc, "auth.phone_code_failed", phone, client, caller, {"channel": channel, **exc.detail})
        raise ProviderFailed(exc) from exc
    key = _pending_key(channel, phone)
    async with svc.redis.pipeline(transaction=True) as pipe:
        # HSET keeps `attempts`: a resend does not reset the guesses left.
        pipe.hset(
            key, mapping={**fields, "exp": str(time.time() + cfg.otp_ttl.total_seconds()), "provider": provider.name}
        )
        pipe.expire(key, _seconds(cfg.otp_ttl))
        await pipe.execute()
    await _audit(
        svc,
        "auth.phone_code_sent",
        phone,
        client,
        caller,
        {"channel": channel, "provider": provider.name, "provider_ref": ref},
    )
    return out


async def _lock(svc: Services, channel: Channel, phone: str, client: Client | None, caller: UUID | None) -> Locked:
    ttl = _seconds(svc.settings.otp_lockout)
    first = await svc.redis.set(_lock_key(phone), 1, ex=ttl, nx=True)
    await svc.redis.delete(_pending_key(channel, phone))
    if first:
        await _audit(svc, "auth.phone_locked", phone, client, caller, {"channel": channel, "lockout_s": ttl})
    return Locked(ttl)


async def verify(
    svc: Services, channel: Channel, phone: str, code: str, *, caller: UUID | None = None, client: Client | None = None
) -> Proven:
    """Check `code` against the pending verification of (`channel`, `phone`); see the module doc."""
    await _check_lock(svc, phone)
    key, cfg = _pending_key(channel, phone), svc.settings
    found = await svc.redis.eval(_ATTEMPT, 1, key)
    pending = {} if found == -1 else {k.decode(): v.decode() for k, v in zip(found[::2], found[1::2])}
    why = {"channel": channel}
    if not pending or float(pending.get("exp", 0)) <= time.time():
        await _check_lock(svc, phone)  # a parallel guess may have just locked it (and deleted the code)
        await svc.redis.delete(key)
        await _audit(svc, "auth.phone_verify_failed", phone, client, caller, {**why, "reason": "code_expired"})
        raise Unauthorized("no code is pending for this phone, or it expired; ask for a new one", code="code_expired")
    attempts, stored = int(pending["attempts"]), pending.get("h", "")
    if attempts > cfg.otp_max_attempts:
        raise await _lock(svc, channel, phone, client, caller)
    if stored:  # checked here: OTP codes; development flash calls (the caller's last digits)
        digits = int(pending.get("digits") or 0)
        ok: bool | None = hmac.compare_digest(stored, code_hash(svc, phone, code[-digits:] if digits else code))
        field, expected = "h", stored
    else:  # a Sinch flash call: only Sinch knows the calling number
        try:
            ok = await providers.flash_caller(cfg).report(phone, code)
        except ProviderError as exc:
            await svc.redis.hincrby(key, "attempts", -1)  # the provider failed, not the guess
            raise ProviderFailed(exc) from exc
        field, expected = "ref", pending.get("ref", "")
    if ok is None:  # the provider closed the verification (expired, denied)
        await svc.redis.delete(key)
        await _audit(svc, "auth.phone_verify_failed", phone, client, caller, {**why, "reason": "code_expired"})
        raise Unauthorized("this verification is over; ask for a new code", code="code_expired")
    if not ok:
        await _audit(
            svc,
            "auth.phone_verify_failed",
            phone,
            client,
            caller,
            {**why, "reason": "invalid_code", "attempt": attempts},
        )
        if attempts >= cfg.otp_max_attempts:
            raise await _lock(svc, channel, phone, client, caller)
        raise Unauthorized(
            "the code is not right", code="invalid_code", details={"attempts_left": cfg.otp_max_attempts - attempts}
        )
    if not await svc.redis.eval(_CONSUME, 1, key, field, expected):
        raise Unauthorized("this code was already used; ask for a new one", code="code_expired")
    return await _complete(svc, channel, phone, caller, client)


async def _complete(svc: Services, channel: Channel, phone: str, caller: UUID | None, client: Client | None) -> Proven:
    now = utcnow()
    try:
        async with outbox.transaction(svc) as s:
            holder = await _holder(s, phone)
            if caller is not None:
                if holder is not None and holder.id != caller:
                    raise Conflict("this phone belongs to another account", code="phone_taken")
                user = await s.get(User, caller, with_for_update=True)
                if user is None:
                    raise Unauthorized("this account no longer exists", code="unauthorized")
            elif holder is not None and (holder.phone_verified_at is not None or holder.email is None):
                user = holder
            else:
                audit.stage(
                    s,
                    "auth.login_failed",
                    client,
                    subject=f"user:{holder.id}" if holder else phone_subject(svc, phone),
                    details={"reason": "no_account_for_phone", "method": channel},
                )
                refusal = Unauthorized(
                    "no account can log in with this phone: register, or log in and verify it first",
                    code="no_account_for_phone",
                )
                user = None
            verified_now = user is not None and (user.phone != phone or user.phone_verified_at is None)
            if verified_now:
                assert user is not None  # verified_now says so
                user.phone, user.phone_verified_at = phone, now
                outbox.stage(
                    s,
                    Event(
                        "user.phone_verified",
                        {"user_id": str(user.id), "method": channel, "verified_at": now.isoformat()},
                        actor=user.id,
                    ),
                )
                audit.stage(
                    s,
                    "auth.phone_verified",
                    client,
                    actor=user.id,
                    subject=f"user:{user.id}",
                    details={"method": channel},
                )
    except IntegrityError as exc:  # another account took the phone meanwhile
        raise Conflict("this phone belongs to another account", code="phone_taken") from exc
    if user is None:
        raise refusal
    return Proven(user=user, verified_now=verified_now, caller=caller is not None)


def public_phone(user: User) -> dict:
    return {
        "phone": user.phone,
        "phone_verified_at": user.phone_verified_at.isoformat() if user.phone_verified_at else None,
    }
