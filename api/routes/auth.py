from __future__ import annotations

from pydantic import EmailStr, Field, model_validator
from quart import Blueprint, g, request
from quart_schema import tag, validate_querystring, validate_request

from api.auth import auth_required, client, limit_login, limit_register, parse_id, svc
from api.inputs import PageIn, Strict
from models.accounts import sessions, users
from models.core import ratelimit

bp = Blueprint("auth", __name__, url_prefix="/auth")
tag_auth = tag(["auth"])


PhoneField = Field(
    None, min_length=3, max_length=32, description="E.164 (+201001234567), or national digits of PHONE_DEFAULT_REGION"
)


class RegisterIn(Strict):
    email: EmailStr | None = Field(None, max_length=320)
    phone: str | None = PhoneField
    password: str = Field(min_length=8, max_length=256)
    username: str = Field(min_length=3, max_length=30, pattern=r"^[A-Za-z0-9_.]+$")

    @model_validator(mode="after")
    def _email_or_phone(self):
        if not self.email and not self.phone:
            raise ValueError("an email or a phone is required")
        return self


class LoginIn(Strict):
    email: str | None = Field(None, max_length=320)
    phone: str | None = PhoneField
    password: str = Field(max_length=256)

    @model_validator(mode="after")
    def _email_xor_phone(self):
        if bool(self.email) == bool(self.phone):
            raise ValueError("give either an email or a phone")
        return self


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=512)


async def limit(rule: str, rate, subjects: list[str]) -> None:
    """Count this request (RateLimited -> 429); the X-RateLimit-* headers ride on the response."""
    g.rate_limit = await ratelimit.enforce(svc(), rule, rate, subjects, client())


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


@bp.post("/register")
@tag_auth
@validate_request(RegisterIn)
async def register(data: RegisterIn):
    """Create an account with an email or a phone (or both); answers with tokens like login.
    A phone stays unverified until an OTP or a flash call proves it. RATE_LIMIT_REGISTER per IP."""
    return await do_register(data), 201


@bp.post("/login")
@tag_auth
@validate_request(LoginIn)
async def login(data: LoginIn):
    """Opens a session; `email` or `phone` with the password. RATE_LIMIT_LOGIN per IP and per account."""
    return await do_login(data), 200


@bp.post("/refresh")
@tag_auth
@validate_request(RefreshIn)
async def refresh(data: RefreshIn):
    """Answers like login; the presented refresh token is spent. Presenting a spent one revokes
    its whole session (401 refresh_token_reused)."""
    return await sessions.refresh(svc(), data.refresh_token, client()), 200


@bp.post("/logout")
@tag_auth
@auth_required
async def logout():
    """Revokes the session of this access token: its access and refresh tokens stop working."""
    await sessions.revoke(svc(), user_id=g.user_id, session_id=g.session_id, client=client(), action="auth.logout")
    return "", 204


@bp.get("/sessions")
@tag_auth
@auth_required
@validate_querystring(PageIn)
async def list_sessions(query_args: PageIn):
    """Own live sessions, newest first; `current` marks this token's."""
    return await sessions.list_sessions(
        svc(), g.user_id, current=g.session_id, cursor=query_args.cursor, limit=query_args.limit
    )


@bp.delete("/sessions/<session_id>")
@tag_auth
@auth_required
async def revoke_session(session_id: str):
    await sessions.revoke(svc(), user_id=g.user_id, session_id=parse_id(session_id, "session_id"), client=client())
    return "", 204
