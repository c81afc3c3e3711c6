from __future__ import annotations

from quart import Blueprint, g
from quart_schema import document_response, tag, validate_querystring, validate_request

from api.auth import auth_required, client, parse_id, svc
from api.flows.auth import do_login, do_refresh, do_register
from api.inputs import PageIn
from api.inputs.auth import LoginIn, RefreshIn, RegisterIn
from api.outputs import NoContent, errors
from api.outputs.auth import SessionPage, TokensOut
from models.accounts import sessions

bp = Blueprint("auth", __name__, url_prefix="/auth")
tag_auth = tag(["auth"])


@bp.post("/register")
@tag_auth
@validate_request(RegisterIn)
@document_response(TokensOut, 201)
@errors(409)
async def register(data: RegisterIn):
    """Create an account with an email (and a phone claim, unproven until an OTP or a flash call
    proves it); answers with tokens like login. A phone alone: 400 phone_proof_required (sign up
    by verifying a code, /auth/verify-otp). RATE_LIMIT_REGISTER per IP."""
    return await do_register(data), 201


@bp.post("/login")
@tag_auth
@validate_request(LoginIn)
@document_response(TokensOut)
@errors(403)
async def login(data: LoginIn):
    """Opens a session; `email` or `phone` with the password. RATE_LIMIT_LOGIN per IP and per account.
    A suspended or banned account: 403 account_suspended (details.until) / account_banned, as for
    every way to log in and for refresh (docs/moderation.md)."""
    return await do_login(data), 200


@bp.post("/refresh")
@tag_auth
@validate_request(RefreshIn)
@document_response(TokensOut)
@errors(403)
async def refresh(data: RefreshIn):
    """Answers like login; the presented refresh token is spent. Presenting a spent one revokes
    its whole session (401 refresh_token_reused)."""
    return await do_refresh(data), 200


@bp.post("/logout")
@tag_auth
@auth_required
@document_response(NoContent, 204)
async def logout():
    """Revokes the session of this access token: its access and refresh tokens stop working."""
    await sessions.revoke(svc(), user_id=g.user_id, session_id=g.session_id, client=client(), action="auth.logout")
    return "", 204


@bp.get("/sessions")
@tag_auth
@auth_required
@validate_querystring(PageIn)
@document_response(SessionPage)
async def list_sessions(query_args: PageIn):
    """Own live sessions, newest first; `current` marks this token's."""
    return await sessions.list_sessions(
        svc(), g.user_id, current=g.session_id, cursor=query_args.cursor, limit=query_args.limit
    )


@bp.delete("/sessions/<session_id>")
@tag_auth
@auth_required
@document_response(NoContent, 204)
@errors(404)
async def revoke_session(session_id: str):
    await sessions.revoke(svc(), user_id=g.user_id, session_id=parse_id(session_id, "session_id"), client=client())
    return "", 204
