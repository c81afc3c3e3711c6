"""A table of bad inputs -> the documented 4xx errors, never a 500."""

from __future__ import annotations

import uuid
from datetime import UTC

import pytest

from tests.support.factories import create_post, register

MISSING = str(uuid.UUID(int=0))


@pytest.fixture
async def ctx(client):
    user = await register(client)
    return user, await create_post(client, user)


CASES = [
    # (method, path, raw body or json, auth?, status, code)
    ("POST", "/interactions/reactions", b"{not json", True, 400, "bad_request"),
    ("POST", "/interactions/reactions", b"[1, 2]", True, 400, "bad_request"),
    ("POST", "/interactions/reactions", {"post_id": "not-a-uuid"}, True, 422, "validation_error"),
    ("POST", "/interactions/reactions", {"post_id": 12345}, True, 422, "validation_error"),
    ("POST", "/interactions/reactions", {}, True, 422, "validation_error"),
    ("POST", "/interactions/reactions", {"post_id": "{post}", "type": "meh"}, True, 422, "validation_error"),
    ("POST", "/interactions/reactions", {"post_id": "{post}", "extra": 1}, True, 422, "validation_error"),
    ("POST", "/interactions/reactions", {"post_id": MISSING}, True, 404, "post_not_found"),
    ("POST", "/interactions/reactions", {"post_id": "{post}"}, False, 401, "unauthorized"),
    ("DELETE", "/interactions/reactions", {"post_id": MISSING}, True, 404, "post_not_found"),
    ("GET", "/posts/not-a-uuid/counters", None, True, 400, "invalid_id"),
    ("GET", f"/posts/{MISSING}/counters", None, True, 404, "post_not_found"),
    ("POST", "/posts", {"caption": 5}, True, 422, "validation_error"),
    ("POST", "/posts", {"caption": "x", "visibility": "secret"}, True, 422, "validation_error"),
    ("POST", "/posts", {"caption": "x" * 3000}, True, 422, "validation_error"),
    ("POST", "/posts", b'{"caption": "' + b"x" * 300_000 + b'"}', True, 413, "payload_too_large"),
    (
        "POST",
        "/auth/register",
        {"email": "nope", "password": "password123", "username": "abc"},
        False,
        422,
        "validation_error",
    ),
    (
        "POST",
        "/auth/register",
        {"email": "a@b.io", "password": "short", "username": "abc"},
        False,
        422,
        "validation_error",
    ),
    (
        "POST",
        "/auth/register",
        {"email": "a@b.io", "password": "password123", "username": "bad name!"},
        False,
        422,
        "validation_error",
    ),
    (
        "POST",
        "/auth/login",
        {"email": "nobody@example.com", "password": "whatever1"},
        False,
        401,
        "invalid_credentials",
    ),
    ("GET", "/no/such/route", None, False, 404, "not_found"),
    ("PUT", "/interactions/reactions", {}, True, 405, "method_not_allowed"),
    ("POST", "/graphql", b"{broken", False, 400, "bad_request"),
    # posts: edit, pins, bookmarks, grids, profiles (models/content/editing.py, grid.py, bookmarks.py)
    ("PATCH", "/posts/not-a-uuid", {"caption": "x"}, True, 400, "invalid_id"),
    ("PATCH", f"/posts/{MISSING}", {"caption": "x"}, True, 404, "post_not_found"),
    ("PATCH", "/posts/{post}", {}, True, 422, "validation_error"),
    ("PATCH", "/posts/{post}", {"visibility": "secret"}, True, 422, "validation_error"),
    ("PATCH", "/posts/{post}", {"caption": "x"}, False, 401, "unauthorized"),
    ("PUT", "/posts/not-a-uuid/pin", None, True, 400, "invalid_id"),
    ("PUT", f"/posts/{MISSING}/pin", None, True, 404, "post_not_found"),
    ("DELETE", f"/posts/{MISSING}/pin", None, True, 404, "post_not_found"),
    ("PUT", "/posts/not-a-uuid/bookmark", None, True, 400, "invalid_id"),
    ("PUT", f"/posts/{MISSING}/bookmark", None, True, 404, "post_not_found"),
    ("GET", "/users/not-a-uuid/posts", None, True, 400, "invalid_id"),
    ("GET", f"/users/{MISSING}/posts", None, True, 404, "user_not_found"),
    ("GET", "/users/me/bookmarks?limit=0", None, True, 422, "validation_error"),
    ("GET", "/users/me/bookmarks?cursor=%%%", None, True, 400, "invalid_cursor"),
    ("GET", "/users/me/bookmarks", None, False, 401, "unauthorized"),
    ("GET", "/users/by-username/nobody-at-all", None, True, 404, "user_not_found"),
]


@pytest.mark.parametrize(
    "method,path,body,auth,status,code", CASES, ids=[f"{c[0]} {c[1]} -> {c[4]} {c[5]}" for c in CASES]
)
async def test_bad_input(client, ctx, method, path, body, auth, status, code):
    user, post = ctx
    headers = dict(user["headers"]) if auth else {}
    kwargs = {}
    if isinstance(body, bytes):
        kwargs["content"] = body
        headers["Content-Type"] = "application/json"
    elif body is not None:
        kwargs["json"] = {k: (v.replace("{post}", post) if isinstance(v, str) else v) for k, v in body.items()}
    r = await client.request(method, path.replace("{post}", post), headers=headers, **kwargs)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"]


async def test_bad_and_expired_tokens(client, ctx, stack_env):
    from datetime import datetime, timedelta

    import jwt

    from models.accounts import token_keys

    user, post = ctx
    for token, code in [
        ("garbage", "invalid_token"),
        (
            jwt.encode(
                {"sub": user["user"]["id"], "type": "access", "exp": datetime.now(UTC) - timedelta(minutes=1)},
                token_keys.derive(stack_env["JWT_SECRET"])[1],
                algorithm="HS256",
                headers={"kid": token_keys.derive(stack_env["JWT_SECRET"])[0]},
            ),
            "token_expired",
        ),
        (
            jwt.encode(
                {"sub": user["user"]["id"], "type": "access", "exp": datetime.now(UTC) + timedelta(minutes=1)},
                "another-secret-another-secret-xx",
                algorithm="HS256",
            ),
            "invalid_token",
        ),
    ]:
        r = await client.get(f"/posts/{post}/counters", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and r.json()["error"]["code"] == code


async def test_wrong_password_and_unknown_account_answer_alike(client):
    user = await register(client)
    wrong = await client.post("/auth/login", json={"email": user["user"]["email"], "password": "not-it-123"})
    unknown = await client.post("/auth/login", json={"email": "ghost@example.com", "password": "not-it-123"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_duplicate_registration_conflicts(client):
    user = await register(client)
    again = await client.post(
        "/auth/register",
        json={"email": user["user"]["email"].upper(), "password": "password123", "username": "fresh_name"},
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "email_taken"
    same_name = await client.post(
        "/auth/register",
        json={"email": "other@example.com", "password": "password123", "username": user["user"]["username"].upper()},
    )
    assert same_name.status_code == 409 and same_name.json()["error"]["code"] == "username_taken"


async def test_register_and_login_contract(client):
    r = await client.post(
        "/auth/register",
        json={"email": "Contract@Example.com", "password": "password123", "username": f"c{uuid.uuid4().hex[:8]}"},
    )
    assert r.status_code == 201
    body = r.json()
    assert body["token_type"] == "bearer" and body["access_token"] and body["refresh_token"]
    assert set(body["user"]) == {"id", "email", "username"} and body["user"]["email"] == "contract@example.com"
    uuid.UUID(body["user"]["id"])
    login = await client.post("/auth/login", json={"email": "contract@example.com", "password": "password123"})
    assert login.status_code == 200 and login.json()["user"] == body["user"]
