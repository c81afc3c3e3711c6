"""Passkeys (WebAuthn, the `webauthn` library): the credentials Android and iOS biometrics sign with.

A logged-in user registers a device: `registration_options` issues a challenge, the device's
authenticator creates a key pair and `register` verifies and stores its public key. Later the
device logs in: `login_options` issues a challenge, the authenticator signs it and `login`
verifies the signature with the stored key and opens a session.

Challenges are 32 random bytes kept in Redis for WEBAUTHN_CHALLENGE_TTL (2 min) under
`passkey:<ceremony>:<challenge>`, and taken with GETDEL when a response names them (the challenge
is in the signed clientDataJSON): each works once; a replayed or expired one is refused. The
relying party id and the accepted origins come from WEBAUTHN_RP_ID / WEBAUTHN_ORIGINS. User
verification (the biometric or PIN) is required. The signature counter must grow when the
authenticator keeps one (a regression means a cloned key: refused and audited).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import TYPE_CHECKING, cast
from uuid import UUID

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, LargeBinary, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url, generate_challenge, parse_client_data_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from models.accounts.users import User
from models.core import audit
from models.core.audit import Client
from models.core.base import Base, CreatedAt, utcnow
from models.core.errors import Conflict, DomainError, NotFound, Unauthorized
from models.core.events import new_id

if TYPE_CHECKING:
    from infra.services import Services


class PasskeyCredential(CreatedAt, Base):
    __tablename__ = "passkey_credentials"
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key
    sign_count: Mapped[int] = mapped_column(BigInteger)
    device_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    transports: Mapped[list] = mapped_column(JSON, default=list)
    aaguid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)  # a synced passkey
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def public(c: PasskeyCredential) -> dict:
    return {
        "id": str(c.id),
        "credential_id": bytes_to_base64url(c.credential_id),
        "device_name": c.device_name,
        "transports": c.transports,
        "backed_up": c.backed_up,
        "created_at": c.created_at.isoformat(),
        "last_used_at": c.last_used_at.isoformat() if c.last_used_at else None,
    }


def _key(ceremony: str, challenge: bytes | str) -> str:
    value = challenge if isinstance(challenge, str) else bytes_to_base64url(challenge)
    return f"passkey:{ceremony}:{value}"


def _ttl(svc: Services) -> int:
    return max(1, int(svc.settings.webauthn_challenge_ttl.total_seconds()))


async def _take_challenge(svc: Services, ceremony: str, credential: dict) -> tuple[bytes, str]:
    """The challenge a response signs, if it is still outstanding (single use) -> (challenge, value)."""
    try:
        raw = credential["response"]["clientDataJSON"]
        client_data = parse_client_data_json(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (KeyError, TypeError, ValueError, WebAuthnException):
        raise DomainError("the credential is not a valid WebAuthn response", code="invalid_credential") from None
    value = cast(bytes | None, await svc.redis.getdel(_key(ceremony, client_data.challenge)))
    if value is None:
        raise Unauthorized(
            "this challenge is unknown, expired or already used; ask for new options", code="challenge_invalid"
        )
    return client_data.challenge, value.decode()


def _transports(values) -> list[AuthenticatorTransport]:
    known = {t.value for t in AuthenticatorTransport}
    return [AuthenticatorTransport(t) for t in values or [] if t in known]


async def _live(s: AsyncSession, user_id: UUID) -> list[PasskeyCredential]:
    return list(
        (
            await s.execute(
                select(PasskeyCredential)
                .where(PasskeyCredential.user_id == user_id, PasskeyCredential.revoked_at.is_(None))
                .order_by(PasskeyCredential.id)
            )
        ).scalars()
    )


# --- registration (a logged-in user adds a device) ---------------------------------------------


async def registration_options(svc: Services, user_id: UUID) -> dict:
    cfg = svc.settings
    async with svc.sessions() as db:
        user = await db.get(User, user_id)
        existing = await _live(db, user_id)
    if user is None:
        raise Unauthorized("this account no longer exists")
    challenge = generate_challenge()
    options = generate_registration_options(
        rp_id=cfg.webauthn_rp_id,
        rp_name=cfg.webauthn_rp_name,
        user_id=user.id.bytes,
        user_name=user.username,
        user_display_name=user.username,
        challenge=challenge,
        timeout=_ttl(svc) * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.REQUIRED
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=c.credential_id, transports=_transports(c.transports)) for c in existing
        ],
    )
    await svc.redis.set(_key("reg", challenge), str(user_id), ex=_ttl(svc))
    return json.loads(options_to_json(options))


async def register(
    svc: Services, user_id: UUID, credential: dict, *, device_name: str | None = None, client: Client | None = None
) -> PasskeyCredential:
    cfg = svc.settings
    challenge, owner = await _take_challenge(svc, "reg", credential)
    if owner != str(user_id):  # options issued to someone else
        raise Unauthorized("this challenge was issued to another account", code="challenge_invalid")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=cfg.webauthn_rp_id,
            expected_origin=cfg.webauthn_origins,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        await audit.record(
            svc,
            "auth.passkey_register_failed",
            client,
            actor=user_id,
            subject=f"user:{user_id}",
            details={"reason": str(exc)[:200]},
        )
        raise DomainError(f"the passkey could not be verified: {exc}", code="passkey_invalid") from None
    transports = [t for t in (credential.get("response", {}).get("transports") or []) if isinstance(t, str)][:10]
    row = PasskeyCredential(
        id=new_id(),
        user_id=user_id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        device_name=device_name,
        transports=transports,
        aaguid=str(UUID(verified.aaguid)) if verified.aaguid else None,
        backed_up=verified.credential_backed_up,
        created_at=utcnow(),
    )
    try:
        async with svc.sessions() as db, db.begin():
            db.add(row)
            audit.stage(
                db,
                "auth.passkey_registered",
                client,
                actor=user_id,
                subject=f"passkey:{row.id}",
                details={"device_name": device_name},
            )
    except IntegrityError as exc:
        raise Conflict("this credential is already registered", code="passkey_exists") from exc
    return row


async def list_passkeys(svc: Services, user_id: UUID) -> list[dict]:
    async with svc.sessions() as db:
        return [public(c) for c in await _live(db, user_id)]


async def revoke(svc: Services, user_id: UUID, passkey_id: UUID, client: Client | None = None) -> None:
    """Revoke one of the user's own passkeys (another user's is a 404, like a missing one)."""
    async with svc.sessions() as db, db.begin():
        row = (
            await db.execute(
                select(PasskeyCredential)
                .where(
                    PasskeyCredential.id == passkey_id,
                    PasskeyCredential.user_id == user_id,
                    PasskeyCredential.revoked_at.is_(None),
                )
                .with_for_update()
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound("no such passkey", code="passkey_not_found")
        row.revoked_at = utcnow()
        audit.stage(db, "auth.passkey_revoked", client, actor=user_id, subject=f"passkey:{row.id}")


# --- login ---------------------------------------------------------------------------------------


def _decoy_id(svc: Services, identifier: str) -> bytes:
    # An unknown account gets a stable made-up credential, so options do not reveal who exists.
    key = hashlib.sha256(b"daira-passkey-decoy:" + svc.settings.jwt_secret.encode()).digest()
    return hmac.new(key, identifier.encode(), hashlib.sha256).digest()[:16]


async def login_options(svc: Services, *, email: str | None = None, phone: str | None = None) -> dict:
    """Options for navigator.credentials.get(). With an email or phone, the account's passkeys
    are listed (allowCredentials) and only they may answer; without, any discoverable passkey."""
    allow: list[PublicKeyCredentialDescriptor] = []
    owner = ""
    if email or phone:
        # a phone only names the account that proved it (an unproven claim names nobody)
        where = User.email == email.lower() if email else (User.phone == phone) & User.phone_verified_at.is_not(None)
        async with svc.sessions() as db:
            user = (await db.execute(select(User).where(where))).scalar_one_or_none()
            creds = await _live(db, user.id) if user else []
        if creds:
            assert user is not None  # the creds are the user's
            owner = str(user.id)
            allow = [
                PublicKeyCredentialDescriptor(id=c.credential_id, transports=_transports(c.transports)) for c in creds
            ]
        else:
            allow = [
                PublicKeyCredentialDescriptor(
                    id=_decoy_id(svc, (email or "").lower() or phone or ""),
                    transports=[AuthenticatorTransport.INTERNAL],
                )
            ]
            owner = "nobody"
    challenge = generate_challenge()
    options = generate_authentication_options(
        rp_id=svc.settings.webauthn_rp_id,
        challenge=challenge,
        timeout=_ttl(svc) * 1000,
        allow_credentials=allow,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    await svc.redis.set(_key("auth", challenge), owner or "*", ex=_ttl(svc))
    return json.loads(options_to_json(options))


async def login(svc: Services, credential: dict, client: Client | None = None) -> User:
    """Verify an assertion; the user it proves (the caller opens the session)."""
    cfg = svc.settings
    challenge, owner = await _take_challenge(svc, "auth", credential)
    try:
        raw = credential["rawId"]
        credential_id = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (KeyError, TypeError, ValueError):
        raise DomainError("the credential is not a valid WebAuthn response", code="invalid_credential") from None

    async def refuse(reason: str, message: str, subject: str) -> Unauthorized:
        await audit.record(
            svc, "auth.login_failed", client, subject=subject, details={"reason": reason, "method": "passkey"}
        )
        return Unauthorized(message, code=reason)

    async with svc.sessions() as db, db.begin():
        row = (
            await db.execute(
                select(PasskeyCredential).where(PasskeyCredential.credential_id == credential_id).with_for_update()
            )
        ).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            subject = f"passkey:{row.id}" if row else "passkey:unknown"
            raise await refuse("passkey_unknown", "this passkey is not registered (or was revoked)", subject)
        if owner != "*" and owner != str(row.user_id):
            raise await refuse(
                "passkey_not_allowed", "this passkey does not belong to the account asked for", f"passkey:{row.id}"
            )
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=cfg.webauthn_rp_id,
                expected_origin=cfg.webauthn_origins,
                credential_public_key=row.public_key,
                credential_current_sign_count=row.sign_count,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            cloned = "sign count" in str(exc).lower()
            raise await refuse(
                "passkey_sign_count" if cloned else "passkey_invalid",
                f"the passkey assertion was refused: {exc}",
                f"passkey:{row.id}",
            ) from None
        row.sign_count, row.last_used_at = verified.new_sign_count, utcnow()
        user = await db.get(User, row.user_id)
        assert user is not None  # the passkey's foreign key
    return user
