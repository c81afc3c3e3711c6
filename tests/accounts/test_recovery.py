"""Recovery and credentials (issue 13, item 2): password reset by a signed, single-use,
30-minute mail link and by a phone code; password change; email verification; which sessions
each revokes; the absolute session lifetime. REST and GraphQL faces.

Mail goes through a real SMTP server (aiosmtpd) on a loopback port; WhatsApp is the local stub.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from uuid import UUID, uuid4

import httpx
import pytest

from models.accounts import recovery
from tests.support.client import code_of
from tests.support.factories import proven_phone_user, register
from tests.support.mail import Mailbox
from tests.support.processes import start_api
from tests.support.stubs import WhatsAppStub, ips, new_phone


@pytest.fixture(scope="module")
def mailbox():
    box = Mailbox()
    yield box
    box.close()


@pytest.fixture(scope="module")
def wa():
    stub = WhatsAppStub()
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def mail_api(stack_env, log_dir, mailbox, wa):
    proc, base = start_api(stack_env, log_dir, SMTP_URL=mailbox.url, **wa.env())
    yield base
    proc.stop()


@pytest.fixture
async def http(mail_api):
    clients: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        c = httpx.AsyncClient(
            base_url=mail_api, timeout=15, transport=httpx.AsyncHTTPTransport(local_address=next(ips))
        )
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


async def login(c, email: str, password: str) -> httpx.Response:
    return await c.post("/auth/login", json={"email": email, "password": password})


def bearer(pair: dict) -> dict:
    return {"Authorization": f"Bearer {pair['access_token']}"}


async def test_reset_by_mail_link_works_once_and_ends_every_session(http, mailbox, db):
    c = http()
    user = await register(c)
    email = user["user"]["email"]
    second = (await login(http(), email, user["password"])).json()

    r = await c.post("/auth/password/forgot", json={"email": email})
    assert r.status_code == 202 and r.json() == {"expires_in": 1800}
    [mail] = mailbox.to(email)
    assert "reset" in mail["subject"].lower() and "30 minutes" in mail["body"]
    token = mailbox.last_token(email)

    r = await http().post("/auth/password/reset", json={"token": token, "password": "brand new pw 1"})
    assert r.status_code == 200, r.text
    fresh = r.json()
    assert fresh["user"]["id"] == user["user"]["id"]
    # every earlier session is over, access and refresh tokens alike; the new one works
    for old in (user, second):
        assert code_of(await c.get("/auth/sessions", headers=bearer(old)), 401) == "session_revoked"
        assert code_of(await c.post("/auth/refresh", json={"refresh_token": old["refresh_token"]}), 401) == (
            "refresh_token_revoked"
        )
    assert (await c.get("/auth/sessions", headers=bearer(fresh))).status_code == 200
    assert code_of(await login(http(), email, user["password"]), 401) == "invalid_credentials"
    assert (await login(http(), email, "brand new pw 1")).status_code == 200
    # single use: the same link again is refused
    again = await http().post("/auth/password/reset", json={"token": token, "password": "another pw 123"})
    assert code_of(again, 401) == "invalid_link"
    # following the link proved the email
    assert await db.fetchval("SELECT email_verified_at IS NOT NULL FROM users WHERE id = $1", UUID(user["user"]["id"]))


async def test_reset_links_unknown_tampered_and_expired(http, mailbox, svc):
    c = http()
    nobody = f"nobody{uuid4().hex[:8]}@example.com"
    r = await c.post("/auth/password/forgot", json={"email": nobody})
    assert r.status_code == 202 and r.json() == {"expires_in": 1800}  # answered alike
    assert mailbox.to(nobody) == []

    user = await register(c)  # each reset try from its own address: RATE_LIMIT_RECOVERY is 5/1h per IP
    await c.post("/auth/password/forgot", json={"email": user["user"]["email"]})
    token = mailbox.last_token(user["user"]["email"])
    payload, sig = token.split(".")
    for bad in (f"{payload}.{sig[:-2]}AA", f"{payload[:-2]}xx.{sig}", "nonsense-token"):
        r = await http().post("/auth/password/reset", json={"token": bad, "password": "brand new pw 1"})
        assert code_of(r, 401) == "invalid_link", bad
    # a link made 31 minutes ago (same secret, expiry in the past)
    from sqlalchemy import select

    from models.accounts.users import User

    async with svc.sessions() as s:
        row = (await s.execute(select(User).where(User.id == UUID(user["user"]["id"])))).scalar_one()
    old = SimpleNamespace(settings=svc.settings.model_copy(update={"password_reset_ttl": timedelta(minutes=-1)}))
    expired = recovery.make_token(old, recovery.RESET, row)
    assert code_of(
        await http().post("/auth/password/reset", json={"token": expired, "password": "brand new pw 1"}), 401
    ) == ("link_expired")
    # a verification link is no reset link
    verify = recovery.make_token(svc, recovery.VERIFY, row)
    assert code_of(
        await http().post("/auth/password/reset", json={"token": verify, "password": "brand new pw 1"}), 401
    ) == ("invalid_link")
    # the original still works (nothing above spent it)
    assert (
        await http().post("/auth/password/reset", json={"token": token, "password": "brand new pw 1"})
    ).status_code == 200


async def test_graphql_reset_by_mail(http, mailbox):
    c = http()
    user = await register(c)
    email = user["user"]["email"]
    g = await c.post(
        "/graphql",
        json={"query": "mutation($e: String!) { requestPasswordReset(email: $e) }", "variables": {"e": email}},
    )
    assert g.json()["data"]["requestPasswordReset"] is True
    token = mailbox.last_token(email)
    q = 'mutation($t: String!) { resetPassword(token: $t, password: "graphql new pw") { accessToken user { id } } }'
    g = await c.post("/graphql", json={"query": q, "variables": {"t": token}})
    assert g.json()["data"]["resetPassword"]["user"]["id"] == user["user"]["id"]
    g = await c.post("/graphql", json={"query": q, "variables": {"t": token}})
    assert g.json()["errors"][0]["extensions"]["code"] == "invalid_link"
    assert code_of(await c.get("/auth/sessions", headers=user["headers"]), 401) == "session_revoked"


async def test_reset_by_phone_code(http, wa, db):
    c, phone = http(), new_phone()
    user = await proven_phone_user(c, db, phone)
    assert (await c.post("/auth/otp/request", json={"phone": phone})).status_code == 202
    wrong = await c.post(
        "/auth/password/reset/phone",
        json={
            "phone": phone,
            "code": "000000" if wa.last_code(phone) != "000000" else "111111",
            "password": "phone new pw 1",
        },
    )
    assert code_of(wrong, 401) == "invalid_code"
    r = await c.post(
        "/auth/password/reset/phone", json={"phone": phone, "code": wa.last_code(phone), "password": "phone new pw 1"}
    )
    assert r.status_code == 200 and r.json()["user"]["id"] == user["user"]["id"], r.text
    assert code_of(await c.get("/auth/sessions", headers=user["headers"]), 401) == "session_revoked"
    assert (await c.post("/auth/login", json={"phone": phone, "password": "phone new pw 1"})).status_code == 200

    # a phone nobody proved resets nothing (a claim included); GraphQL face
    claimed = new_phone()
    claimant = await register(http(), phone=claimed)
    c2 = http()
    assert (await c2.post("/auth/otp/request", json={"phone": claimed})).status_code == 202
    q = (
        "mutation($p: String!, $c: String!) "
        '{ resetPasswordByPhone(phone: $p, code: $c, password: "hijack pw 123") { accessToken } }'
    )
    g = await c2.post("/graphql", json={"query": q, "variables": {"p": claimed, "c": wa.last_code(claimed)}})
    assert g.json()["errors"][0]["extensions"]["code"] == "no_account_for_phone"
    assert (await login(http(), claimant["user"]["email"], claimant["password"])).status_code == 200


async def test_change_password_needs_the_current_one_and_ends_the_other_sessions(http):
    c = http()
    user = await register(c)
    email = user["user"]["email"]
    other = (await login(http(), email, user["password"])).json()
    r = await c.post(
        "/auth/password/change",
        json={"current_password": "not it at all", "new_password": "changed pw 123"},
        headers=user["headers"],
    )
    assert code_of(r, 401) == "invalid_credentials"
    assert (await c.get("/auth/sessions", headers=bearer(other))).status_code == 200  # a refusal revokes nothing
    assert (
        code_of(
            await c.post(
                "/auth/password/change",
                json={"current_password": user["password"], "new_password": "x"},
                headers=user["headers"],
            ),
            422,
        )
        == "validation_error"
    )
    r = await c.post(
        "/auth/password/change",
        json={"current_password": user["password"], "new_password": "changed pw 123"},
        headers=user["headers"],
    )
    assert r.status_code == 204, r.text
    assert (await c.get("/auth/sessions", headers=user["headers"])).status_code == 200  # this session stays
    assert code_of(await c.get("/auth/sessions", headers=bearer(other)), 401) == "session_revoked"
    assert (
        code_of(await c.post("/auth/refresh", json={"refresh_token": other["refresh_token"]}), 401)
        == "refresh_token_revoked"
    )
    assert (await login(http(), email, "changed pw 123")).status_code == 200
    assert (
        code_of(
            await c.post("/auth/password/change", json={"current_password": "x", "new_password": "changed pw 123"}), 401
        )
        == "unauthorized"
    )

    # GraphQL
    third = (await login(http(), email, "changed pw 123")).json()
    q = 'mutation { changePassword(currentPassword: "changed pw 123", newPassword: "graphql pw 123") }'
    g = await c.post("/graphql", json={"query": q}, headers=user["headers"])
    assert g.json()["data"]["changePassword"] is True
    assert code_of(await c.get("/auth/sessions", headers=bearer(third)), 401) == "session_revoked"
    g = await c.post("/graphql", json={"query": q}, headers=user["headers"])
    assert g.json()["errors"][0]["extensions"]["code"] == "invalid_credentials"


async def test_email_verification_revokes_nothing(http, mailbox, db):
    c = http()
    user = await register(c)
    email = user["user"]["email"]
    other = (await login(http(), email, user["password"])).json()
    me = "{ me { id emailVerified } }"
    assert (await c.post("/graphql", json={"query": me}, headers=user["headers"])).json()["data"]["me"][
        "emailVerified"
    ] is False
    r = await c.post("/auth/email/verification", headers=user["headers"])
    assert r.status_code == 202, r.text
    token = mailbox.last_token(email)
    r = await http().post("/auth/email/verify", json={"token": token})
    assert r.status_code == 200 and r.json()["user"]["id"] == user["user"]["id"] and r.json()["email_verified_at"]
    for s in (user, other):
        assert (await c.get("/auth/sessions", headers=bearer(s))).status_code == 200
    assert (await c.post("/graphql", json={"query": me}, headers=user["headers"])).json()["data"]["me"][
        "emailVerified"
    ] is True
    assert code_of(await c.post("/auth/email/verification", headers=user["headers"]), 409) == "email_already_verified"
    assert code_of(await c.post("/auth/email/verify", json={"token": token[:-3] + "abc"}), 401) == "invalid_link"

    # GraphQL faces
    u2 = await register(http())
    g = await c.post("/graphql", json={"query": "mutation { requestEmailVerification }"}, headers=u2["headers"])
    assert g.json()["data"]["requestEmailVerification"] is True
    q = "mutation($t: String!) { verifyEmail(token: $t) { id emailVerified } }"
    g = await c.post("/graphql", json={"query": q, "variables": {"t": mailbox.last_token(u2["user"]["email"])}})
    assert g.json()["data"]["verifyEmail"] == {"id": u2["user"]["id"], "emailVerified": True}


async def test_mail_server_down_is_a_503(stack_env, log_dir):
    from infra.embedded import free_port

    proc, base = start_api(stack_env, log_dir, SMTP_URL=f"smtp://127.0.0.1:{free_port()}", SMTP_TIMEOUT="2")
    try:
        async with httpx.AsyncClient(base_url=base, timeout=15) as c:
            user = await register(c)
            r = await c.post("/auth/password/forgot", json={"email": user["user"]["email"]})
            assert code_of(r, 503) == "mail_unavailable" and r.headers["Retry-After"]
    finally:
        proc.stop()


async def test_sessions_end_after_the_absolute_lifetime(client, db):
    """SESSION_MAX_AGE (90 days) holds however recently the session was refreshed."""
    user = await register(client)
    r = await client.post("/auth/refresh", json={"refresh_token": user["refresh_token"]})
    assert r.status_code == 200
    fresh = r.json()
    sid = await db.fetchval(
        "SELECT session_id FROM refresh_tokens WHERE used_at IS NOT NULL AND user_id = $1", UUID(user["user"]["id"])
    )
    row = await db.fetchrow("SELECT created_at, expires_at FROM auth_sessions WHERE id = $1", sid)
    assert row["expires_at"] - row["created_at"] <= timedelta(days=90)
    await db.execute("UPDATE auth_sessions SET created_at = now() - interval '90 days 1 minute' WHERE id = $1", sid)
    r = await client.post("/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert code_of(r, 401) == "session_expired"
    g = await client.post(
        "/graphql",
        json={
            "query": "mutation($t: String!) { refresh(refreshToken: $t) { accessToken } }",
            "variables": {"t": fresh["refresh_token"]},
        },
    )
    assert g.json()["errors"][0]["extensions"]["code"] == "session_expired"
