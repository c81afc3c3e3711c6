"""Fail closed and rotate (issue 13, item 4): outside development and test the processes refuse
the public default JWT_SECRET; access tokens are signed by a key derived from the secret for
that purpose and name it by `kid`; a rotated secret (JWT_PREVIOUS_SECRETS) still verifies the
tokens it signed, so a rotation logs nobody out."""

from __future__ import annotations

import secrets

import httpx
import jwt
import pytest
from pydantic import ValidationError

from infra.settings import DEFAULT_JWT_SECRET, Settings
from models.accounts import token_keys
from tests.support.factories import register
from tests.support.processes import start_api


def test_unset_environment_is_production_and_refuses_the_default_secret(monkeypatch):
    for k in ("APP_ENV", "NODE_ENV", "JWT_SECRET"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings()
    monkeypatch.setenv("NODE_ENV", "staging")  # not a known environment: refused too
    with pytest.raises(ValidationError):
        Settings()
    for env in ("development", "test"):
        monkeypatch.setenv("NODE_ENV", env)
        assert Settings().env == env
    monkeypatch.delenv("NODE_ENV")
    monkeypatch.setenv("JWT_SECRET", "k" * 40)
    assert Settings().env == "production"


def test_the_api_does_not_start_with_the_default_secret_unless_told_development(stack_env, log_dir):
    env = {k: v for k, v in stack_env.items() if k not in ("APP_ENV", "NODE_ENV")}
    env["JWT_SECRET"] = DEFAULT_JWT_SECRET
    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        start_api(env, log_dir)
    proc, _ = start_api({**env, "APP_ENV": "development"}, log_dir)
    proc.stop()


async def test_access_tokens_use_a_derived_key_named_by_kid(client, stack_env):
    user = await register(client)
    token = user["access_token"]
    kid, key = token_keys.derive(stack_env["JWT_SECRET"])
    assert jwt.get_unverified_header(token)["kid"] == kid
    assert key != stack_env["JWT_SECRET"].encode()
    jwt.decode(token, key, algorithms=["HS256"])  # the derived key verifies it
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, stack_env["JWT_SECRET"], algorithms=["HS256"])  # the raw secret does not


async def test_rotation_keeps_sessions_and_old_tokens_until_the_old_secret_is_dropped(stack_env, log_dir):
    old, new = stack_env["JWT_SECRET"], secrets.token_urlsafe(40)
    rotated, rotated_base = start_api(
        stack_env, log_dir, JWT_SECRET=new, JWT_PREVIOUS_SECRETS=f"spare-{old[:8]}, {old}"
    )
    dropped, dropped_base = start_api(stack_env, log_dir, JWT_SECRET=new)
    try:
        async with httpx.AsyncClient(base_url=rotated_base, timeout=15) as c:
            # a token signed before the rotation (the suite's API has the old secret)

            user = await register(c)  # signed with the new key
            assert jwt.get_unverified_header(user["access_token"])["kid"] == token_keys.derive(new)[0]
            kid_old, key_old = token_keys.derive(old)
            claims = jwt.decode(user["access_token"], options={"verify_signature": False})
            before = jwt.encode(claims, key_old, algorithm="HS256", headers={"kid": kid_old})
            r = await c.get("/auth/sessions", headers={"Authorization": f"Bearer {before}"})
            assert r.status_code == 200, r.text
            g = await c.post("/graphql", json={"query": "{ me { id } }"}, headers={"Authorization": f"Bearer {before}"})
            assert g.json()["data"]["me"]["id"] == user["user"]["id"]
        async with httpx.AsyncClient(base_url=dropped_base, timeout=15) as c:
            # once the old secret is dropped its tokens are refused; the session itself lives on
            r = await c.get("/auth/sessions", headers={"Authorization": f"Bearer {before}"})
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"
            assert (await c.get("/auth/sessions", headers=user["headers"])).status_code == 200
            r = await c.post("/auth/refresh", json={"refresh_token": user["refresh_token"]})
            assert r.status_code == 200, r.text
    finally:
        rotated.stop()
        dropped.stop()
