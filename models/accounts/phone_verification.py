"""Proving a phone: WhatsApp one-time codes (`otp`) and flash calls (`flash_call`), one state machine.

`request` delivers a code through the channel's provider (infra/providers) and records a
*pending* verification in Redis under `phonever:<channel>:<phone>`: the code's HMAC (keyed from
JWT_SECRET, bound to the phone; the code itself is never stored) — or, for a Sinch flash call,
only Sinch's verification id, since Sinch alone knows the calling number — its expiry (OTP_TTL)
and an attempt counter. `check` counts the attempt *before* checking (one Lua call, so parallel
guesses cannot overrun the limit). A right code is consumed by a compare-and-delete, so it
proves the phone at most once.

Wrong codes are counted twice. Per requester (`requesters`: its IP, device and account, each
its own count, whatever the phone): over RATE_LIMIT_OTP_FAIL it may not try again (429
too_many_wrong_codes), and its refused tries cost the number nothing. Per number and channel:
the OTP_MAX_ATTEMPTS-th wrong code voids the code and locks *that channel* of the number for
OTP_LOCKOUT; the other channel opens for the number OTP_FALLBACK_DELAY later and is never locked
by wrong codes while the first is (a wrong streak there only voids its code). A stranger can
therefore slow the owner down, never lock them out.

Resends: one per OTP_RESEND_COOLDOWN per channel and phone, and a resend keeps the attempt
counter (a new code does not buy new guesses). Delivery failure: 503, no new code is stored
(an earlier one stays valid) and the cool-down is released.

What a proven phone does (`verify`, then `_complete`): with a caller (a valid bearer token) the
phone becomes the caller's verified phone. Without one it logs into the account that proved
this phone before, or, if none did, opens a new phone-only account for the prover. A phone
another account only *claimed* (unproven) is released from it first (it keeps its email): a
proof never logs anyone into an account whose credentials someone else set. 409 phone_taken
only when another account has proven the phone. Requests are answered the same whether or not
an account holds the phone; only someone who received the code can learn it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from infra import providers
from infra.providers import ProviderError
from models.accounts import users
from models.accounts.users import User, phone_subject
from models.core import audit, outbox, ratelimit
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
    """This channel of the phone is locked (or waits for the other one's fallback delay); details
    say when the other channel opens for the owner."""

    status, code = 429, "phone_locked"

    def __init__(self, retry_after: int, channel: Channel, fallback_after: int | None):
        other = _other(channel)
        hint = f"; the {other} channel opens in {fallback_after} s" if fallback_after is not None else ""
        super().__init__(
            f"too many wrong codes for this phone by {channel}; retry in {retry_after} s{hint}",
            details={
                "retry_after": retry_after,
                "channel": channel,
                "fallback": other,
                "fallback_after": fallback_after,
            },
        )
        self.headers = {"Retry-After": str(retry_after)}


class TooManyWrongCodes(DomainError):
    status, code = 429, "too_many_wrong_codes"

    def __init__(self, retry_after: int):
        super().__init__(
            f"too many wrong codes from you; retry in {retry_after} s", details={"retry_after": retry_after}
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
    created: bool = False  # the proof opened this account


def _other(channel: Channel) -> Channel:
    return "flash_call" if channel == "otp" else "otp"


def _pending_key(channel: Channel, phone: str) -> str:
    return f"phonever:{channel}:{phone}"


def _cooldown_key(channel: Channel, phone: str) -> str:
    return f"phonever:cooldown:{channel}:{phone}"


def _lock_key(channel: Channel, phone: str) -> str:
    # value: the Unix time at which the other channel opens as the owner's fallback
    return f"phonever:lock:{channel}:{phone}"


def code_hash(svc: Services, phone: str, code: str) -> str:
    key = hashlib.sha256(b"daira-phone-code:" + svc.settings.jwt_secret.encode()).digest()
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _seconds(td) -> int:
    return max(1, math.ceil(td.total_seconds()))


async def _check_lock(svc: Services, channel: Channel, phone: str) -> None:
    """Locked: this channel, or the other one locked less than OTP_FALLBACK_DELAY ago."""
    own, other = _lock_key(channel, phone), _lock_key(_other(channel), phone)
    async with svc.redis.pipeline(transaction=False) as pipe:
        pipe.ttl(own)
        pipe.get(own)
        pipe.get(other)
        ttl, own_opens, other_opens = await pipe.execute()
    now = time.time()
    if ttl and ttl > 0:
        raise Locked(ttl, channel, max(0, math.ceil(float(own_opens or now) - now)))
    if other_opens and (wait := math.ceil(float(other_opens) - now)) > 0:
        raise Locked(wait, channel, None)


async def _holder(s: AsyncSession, phone: str, *, lock: bool = False) -> User | None:
    q = select(User).where(User.phone == phone)
    return (await s.execute(q.with_for_update() if lock else q)).scalar_one_or_none()


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
    await _check_lock(svc, channel, phone)
    if caller is not None:
        async with svc.sessions() as db:
            holder = await _holder(db, phone)
        if holder is not None and holder.id != caller and holder.phone_verified_at is not None:
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


async def _lock(svc: Services, channel: Channel, phone: str, client: Client | None, caller: UUID | None) -> DomainError:
    """The OTP_MAX_ATTEMPTS-th wrong code: void the code; lock this channel unless it is the
    owner's fallback (the other channel is locked), which is never locked."""
    if await svc.redis.exists(_lock_key(_other(channel), phone)):
        await svc.redis.delete(_pending_key(channel, phone))
        return Unauthorized(
            "too many wrong codes: this code is void; ask for a new one",
            code="invalid_code",
            details={"attempts_left": 0},
        )
    cfg = svc.settings
    ttl, opens = _seconds(cfg.otp_lockout), time.time() + cfg.otp_fallback_delay.total_seconds()
    # locked before the code goes, so a parallel guess finding no code finds the lock
    first = await svc.redis.set(_lock_key(channel, phone), str(opens), ex=ttl, nx=True)
    await svc.redis.delete(_pending_key(channel, phone))
    if first:
        await _audit(svc, "auth.phone_locked", phone, client, caller, {"channel": channel, "lockout_s": ttl})
    return Locked(ttl, channel, _seconds(cfg.otp_fallback_delay))


async def check(
    svc: Services,
    channel: Channel,
    phone: str,
    code: str,
    *,
    caller: UUID | None = None,
    client: Client | None = None,
    requesters: Sequence[str] = (),
) -> None:
    """Check `code` against the pending verification of (`channel`, `phone`) and consume it, or
    raise; see the module doc. Proves the number, and changes no account."""
    cfg, subjects = svc.settings, list(requesters)
    refused = [
        v for v in await ratelimit.peek(svc.redis, "otp_fail", cfg.rate_limit_otp_fail, subjects) if v.count >= v.limit
    ]
    if refused:
        raise TooManyWrongCodes(max(v.retry_after() for v in refused))
    await _check_lock(svc, channel, phone)
    key = _pending_key(channel, phone)
    found = await svc.redis.eval(_ATTEMPT, 1, key)
    pending = {} if found == -1 else {k.decode(): v.decode() for k, v in zip(found[::2], found[1::2])}
    why = {"channel": channel}
    if not pending or float(pending.get("exp", 0)) <= time.time():
        await _check_lock(svc, channel, phone)  # a parallel guess may have just locked it (and deleted the code)
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
        await ratelimit.hit(svc.redis, "otp_fail", cfg.rate_limit_otp_fail, subjects)
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


async def verify(
    svc: Services,
    channel: Channel,
    phone: str,
    code: str,
    *,
    caller: UUID | None = None,
    client: Client | None = None,
    requesters: Sequence[str] = (),
    username: str | None = None,
    password: str | None = None,
) -> Proven:
    """Prove `phone` (`check`), then verify it for the caller, log into the account that proved
    it before, or open a phone-only account (with `username` and `password` if given)."""
    if caller is None and username and await users.username_taken(svc, username):
        raise Conflict("this username is already registered", code="username_taken")  # before the code is spent
    await check(svc, channel, phone, code, caller=caller, client=client, requesters=requesters)
    return await _complete(svc, channel, phone, caller, client, username, password)


async def _complete(
    svc: Services,
    channel: Channel,
    phone: str,
    caller: UUID | None,
    client: Client | None,
    username: str | None,
    password: str | None,
) -> Proven:
    now, created = utcnow(), False
    password_hash = await users.hash_password(password) if caller is None else ""
    try:
        async with outbox.transaction(svc) as s:
            holder = await _holder(s, phone, lock=True)
            proven_by = holder.id if holder is not None and holder.phone_verified_at is not None else None
            if proven_by is not None and caller is not None and proven_by != caller:
                raise Conflict("another account has proven this phone", code="phone_taken")
            if holder is not None and proven_by is None and holder.id != caller:
                users.release_phone(s, holder, client)  # an unproven claim: the owner takes the number
                await s.flush()
            if caller is not None:
                user = await s.get(User, caller, with_for_update=True)
                if user is None:
                    raise Unauthorized("this account no longer exists", code="unauthorized")
            elif proven_by is not None:
                user = holder  # its owner proved this phone before: a login
            else:
                user, created = users.stage_phone_account(s, phone, username, password_hash, client), True
            assert user is not None
            verified_now = user.phone != phone or user.phone_verified_at is None
            if verified_now:
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
    except IntegrityError as exc:  # another account took the phone (or the username) meanwhile
        raise Conflict("this phone or username was just taken by another account", code="phone_taken") from exc
    return Proven(user=user, verified_now=verified_now, caller=caller is not None, created=created)


def public_phone(user: User) -> dict:
    return {
        "phone": user.phone,
        "phone_verified_at": user.phone_verified_at.isoformat() if user.phone_verified_at else None,
    }


async def prune_orphans(svc: Services) -> int:
    """Delete `phonever:*` keys that have no expiry. Every key is written with one (OTP_TTL,
    OTP_LOCKOUT, OTP_RESEND_COOLDOWN); a key can still lose it when a write lands just after it
    expired (giving back an attempt after a provider error re-creates the hash without a TTL).
    Run by jobs/retention.py; SCAN, so it never blocks Redis."""
    n = 0
    async for key in svc.redis.scan_iter(match="phonever:*", count=500):
        if await svc.redis.ttl(key) == -1:
            n += await svc.redis.delete(key)
    return n
