from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from quart import Blueprint, g
from quart_schema import tag, validate_querystring, validate_request

from api.auth import auth_required, client, limit_login, limit_register, parse_id, svc
from models import sessions, users

bp = Blueprint("auth", __name__, url_prefix="/auth")
tag_auth = tag(["auth"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegisterIn(Strict):
    email: EmailStr = Field(max_length=320)
    password: str = Field(min_length=8, max_length=256)
    username: str = Field(min_length=3, max_length=30, pattern=r"^[A-Za-z0-9_.]+$")


class LoginIn(Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=512)


class PageIn(Strict):
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=100)


@bp.post("/register")
@tag_auth
@validate_request(RegisterIn)
async def register(data: RegisterIn):
    """Create an account; answers with tokens like login. RATE_LIMIT_REGISTER per IP."""
    await limit_register()
    user = await users.register(svc(), email=data.email, password=data.password, username=data.username,
                                client=client())
    return await sessions.token_pair(svc(), user, client(), method="register"), 201


@bp.post("/login")
@tag_auth
@validate_request(LoginIn)
async def login(data: LoginIn):
    """Opens a session. RATE_LIMIT_LOGIN per IP and per email, both."""
    await limit_login(data.email)
    user = await users.authenticate(svc(), email=data.email, password=data.password, client=client())
    return await sessions.token_pair(svc(), user, client()), 200


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
    await sessions.revoke(svc(), user_id=g.user_id, session_id=g.session_id, client=client(),
                          action="auth.logout")
    return "", 204


@bp.get("/sessions")
@tag_auth
@auth_required
@validate_querystring(PageIn)
async def list_sessions(query_args: PageIn):
    """Own live sessions, newest first; `current` marks this token's."""
    return await sessions.list_sessions(svc(), g.user_id, current=g.session_id, cursor=query_args.cursor,
                                        limit=query_args.limit)


@bp.delete("/sessions/<session_id>")
@tag_auth
@auth_required
async def revoke_session(session_id: str):
    await sessions.revoke(svc(), user_id=g.user_id, session_id=parse_id(session_id, "session_id"),
                          client=client())
    return "", 204
