"""WhatsApp OTP: the Cloud API request Meta documents (against a local stub), login and phone
verification, brute force into the lockout, expiry, resend cool-down, per-phone and per-IP limits,
bad phones, the provider down or refusing, phone registration and login, the audit log.

An API of its own, pointed at the stub, with a day-long resend cool-down and small daily limits
(so no test straddles a window); each test talks from fresh loopback addresses. Time passing is
simulated in Redis (a pending code's expiry, a spent cool-down), never slept through.
"""

from __future__ import annotations

import asyncio
import time
from uuid import uuid4

import httpx
import pytest

from models.core.topics import USERS
from tests.support.broker import collect
from tests.support.client import code_of
from tests.support.factories import proven_phone_user, signup
from tests.support.processes import start_api
from tests.support.stubs import WhatsAppStub, ips, new_phone


@pytest.fixture(scope="module")
def wa():
    stub = WhatsAppStub()
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def otp_api(stack_env, log_dir, wa):
    proc, base = start_api(
        stack_env,
        log_dir,
        OTP_RESEND_COOLDOWN="1d",
        RATE_LIMIT_OTP_PHONE="3/1d",
        RATE_LIMIT_OTP_IP="6/1d",
        RATE_LIMIT_OTP_VERIFY_IP="50/1d",
        **wa.env(),
    )
    yield base
    proc.stop()


@pytest.fixture
async def http(otp_api):
    """A client factory: each call talks to the OTP API from a fresh loopback address."""
    clients: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        c = httpx.AsyncClient(base_url=otp_api, timeout=15, transport=httpx.AsyncHTTPTransport(local_address=next(ips)))
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


async def request_otp(c, phone: str, headers: dict | None = None) -> httpx.Response:
    return await c.post("/auth/otp/request", json={"phone": phone}, headers=headers or {})


async def verify_otp(c, phone: str, code: str, headers: dict | None = None) -> httpx.Response:
    return await c.post("/auth/verify-otp", json={"phone": phone, "code": code}, headers=headers or {})


async def spend_cooldown(redis, phone: str) -> None:
    await redis.delete(f"phonever:cooldown:otp:{phone}")  # as if OTP_RESEND_COOLDOWN had passed


async def test_cloud_api_request_verify_own_phone_then_log_in_with_it(http, wa, db, redis, stack_env):
    c, phone = http(), new_phone()
    user = await signup(c, email=f"o{uuid4().hex[:8]}@example.com")
    r = await request_otp(c, phone, user["headers"])
    assert r.status_code == 202, r.text
    assert r.json() == {"channel": "otp", "expires_in": 300, "resend_after": 86400}

    # the request Meta documents: template message, code in the body and in the URL button
    [sent] = wa.to(phone)
    code = wa.last_code(phone)
    assert len(code) == 6 and code.isdigit()
    assert sent["path"] == "/v21.0/1098765432/messages"
    assert sent["headers"]["Authorization"] == "Bearer wa-test-token"
    assert sent["headers"]["Content-Type"].startswith("application/json")
    assert sent["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": phone,
        "type": "template",
        "template": {
            "name": "daira_otp",
            "language": {"code": "ar"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": code}]},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": code}]},
            ],
        },
    }
    # with the bearer token: verifies the caller's phone
    r = await verify_otp(c, phone, code, user["headers"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verified"] is True and body["phone"] == phone and body["phone_verified_at"]
    assert body["user"]["id"] == user["user"]["id"]
    row = await db.fetchrow("SELECT phone, phone_verified_at FROM users WHERE id = $1", user["user"]["id"])
    assert row["phone"] == phone and row["phone_verified_at"] is not None
    # the code is spent
    assert code_of(await verify_otp(c, phone, code, user["headers"]), 401) == "code_expired"

    # the event the trust score consumes, after commit
    events = await collect(
        stack_env["KAFKA_BOOTSTRAP"],
        USERS.name,
        lambda evs: any(
            e["type"] == "user.phone_verified" and e["payload"]["user_id"] == user["user"]["id"] for e in evs
        ),
    )
    [event] = [
        e for e in events if e["type"] == "user.phone_verified" and e["payload"]["user_id"] == user["user"]["id"]
    ]
    assert event["payload"]["method"] == "otp" and phone not in str(event)

    # without a token: logs into the account with that verified phone
    await spend_cooldown(redis, phone)
    c2 = http()
    assert (await request_otp(c2, phone)).status_code == 202
    login_code = wa.last_code(phone)
    r = await verify_otp(c2, phone, login_code)
    assert r.status_code == 200, r.text
    pair = r.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert pair["user"]["id"] == user["user"]["id"]
    me = await c2.get("/auth/sessions", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200 and len(me.json()["items"]) == 2
    assert code_of(await verify_otp(c2, phone, login_code), 401) == "code_expired"  # used once only


async def test_log_in_with_a_proven_phone(http, wa, db):
    c, phone = http(), new_phone()
    national = "0" + phone[3:]  # the same number as typed in Egypt: 010...
    user = await proven_phone_user(c, db, national)
    row = await db.fetchrow("SELECT phone FROM users WHERE id = $1", user["user"]["id"])
    assert row["phone"] == phone
    # password login by phone, in any accepted spelling
    r = await c.post("/auth/login", json={"phone": phone, "password": "correct horse 1"})
    assert r.status_code == 200 and r.json()["user"]["id"] == user["user"]["id"]
    r = await c.post("/auth/login", json={"phone": national, "password": "wrong horse 1"})
    assert code_of(r, 401) == "invalid_credentials"
    assert (
        code_of(await c.post("/auth/login", json={"phone": new_phone(), "password": "x" * 9}), 401)
        == "invalid_credentials"
    )
    assert code_of(await c.post("/auth/login", json={"password": "x" * 9}), 422) == "validation_error"
    assert (
        code_of(await c.post("/auth/login", json={"phone": phone, "email": "a@b.io", "password": "x" * 9}), 422)
        == "validation_error"
    )
    # the phone is taken now
    dup = await c.post(
        "/auth/register",
        json={
            "email": f"d{uuid4().hex[:8]}@x.io",
            "phone": phone,
            "password": "password123",
            "username": f"d{uuid4().hex[:8]}",
        },
    )
    assert code_of(dup, 409) == "phone_taken"
    assert (
        code_of(await c.post("/auth/register", json={"password": "password123", "username": "nobodyx"}), 422)
        == "validation_error"
    )
    # an OTP logs into it
    c2 = http()
    assert (await request_otp(c2, phone)).status_code == 202
    r = await verify_otp(c2, phone, wa.last_code(phone))
    assert r.status_code == 200 and r.json()["user"]["id"] == user["user"]["id"]
    # GraphQL: password login with the phone
    logged = await c.post(
        "/graphql",
        json={
            "query": 'mutation($p: String!) { login(input: {phone: $p, password: "correct horse 1"}) { accessToken } }',
            "variables": {"p": national},
        },
    )
    assert logged.json()["data"]["login"]["accessToken"]


async def test_unknown_and_unverified_phones_are_answered_alike_and_log_into_no_one(http, wa):
    c = http()
    unknown, unverified = new_phone(), new_phone()
    claimant = await signup(c, email=f"u{uuid4().hex[:8]}@example.com", phone=unverified)  # phone unproven
    a, b = await request_otp(c, unknown), await request_otp(c, unverified)
    assert a.status_code == b.status_code == 202 and a.json() == b.json()
    for phone in (unknown, unverified):  # the proof opens a new account, never the claimant's
        r = await verify_otp(c, phone, wa.last_code(phone))
        assert r.status_code == 201 and r.json()["user"]["id"] != claimant["user"]["id"]


async def test_brute_force_hits_the_lockout(http, wa, redis, db):
    c, phone = http(), new_phone()
    user = await proven_phone_user(c, db, phone)
    assert (await request_otp(c, phone)).status_code == 202
    code = wa.last_code(phone)
    wrong = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, 6)]
    for n, guess in enumerate(wrong[:4]):
        r = await verify_otp(c, phone, guess)
        assert code_of(r, 401) == "invalid_code"
        assert r.json()["error"]["details"]["attempts_left"] == 4 - n
    r = await verify_otp(c, phone, wrong[4])  # the fifth wrong code locks the phone
    assert code_of(r, 429) == "phone_locked" and 0 < int(r.headers["Retry-After"]) <= 900
    # even the right code, a new code, or a flash call: locked
    assert code_of(await verify_otp(c, phone, code), 429) == "phone_locked"
    await spend_cooldown(redis, phone)
    assert code_of(await request_otp(http(), phone), 429) == "phone_locked"
    assert code_of(await http().post("/auth/flash-call", json={"phone": phone}), 429) == "phone_locked"
    assert not await redis.exists(f"phonever:otp:{phone}")  # the pending code is gone
    rows = await db.fetch(
        "SELECT action, details FROM audit_log WHERE subject = $1 AND action LIKE 'auth.phone%' ORDER BY id",
        f"user:{user['user']['id']}",
    )
    actions = [r["action"] for r in rows]
    assert actions.count("auth.phone_verify_failed") == 5 and actions.count("auth.phone_locked") == 1
    assert actions[0] == "auth.phone_code_sent"


async def test_parallel_guesses_cannot_exceed_the_attempts(http, wa, db):
    c, phone = http(), new_phone()
    await proven_phone_user(c, db, phone)
    assert (await request_otp(c, phone)).status_code == 202
    code = wa.last_code(phone)
    guesses = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, 21)]
    results = await asyncio.gather(*(verify_otp(http(), phone, g) for g in guesses))
    codes = sorted(r.json()["error"]["code"] for r in results)
    assert codes.count("invalid_code") == 4 and codes.count("phone_locked") == 16


async def test_an_expired_code_is_refused(http, wa, redis, db):
    c, phone = http(), new_phone()
    await proven_phone_user(c, db, phone)
    assert (await request_otp(c, phone)).status_code == 202
    key = f"phonever:otp:{phone}"
    assert 0 < await redis.ttl(key) <= 300
    stored = await redis.hgetall(key)
    assert wa.last_code(phone).encode() not in b"".join(stored.values())  # only its HMAC
    await redis.hset(key, "exp", str(time.time() - 1))  # as if OTP_TTL had passed
    assert code_of(await verify_otp(c, phone, wa.last_code(phone)), 401) == "code_expired"
    assert code_of(await verify_otp(c, new_phone(), "123456"), 401) == "code_expired"  # never requested


async def test_resend_cooldown_and_a_resend_buys_no_extra_guesses(http, wa, redis, db):
    c, phone = http(), new_phone()
    await proven_phone_user(c, db, phone)
    assert (await request_otp(c, phone)).status_code == 202
    first = wa.last_code(phone)
    again = await request_otp(http(), phone)
    assert code_of(again, 429) == "resend_too_soon"
    assert 86000 < int(again.headers["Retry-After"]) <= 86400
    assert len(wa.to(phone)) == 1
    for _ in range(2):
        assert code_of(await verify_otp(c, phone, "000000" if first != "000000" else "111111"), 401) == "invalid_code"
    await spend_cooldown(redis, phone)
    assert (await request_otp(c, phone)).status_code == 202
    second = wa.last_code(phone)
    if second != first:
        assert code_of(await verify_otp(c, phone, first), 401) == "invalid_code"  # replaced
    else:
        assert code_of(await verify_otp(c, phone, "000000" if first != "000000" else "111111"), 401) == "invalid_code"
    r = await verify_otp(c, phone, "999999" if second != "999999" else "888888")
    assert r.json()["error"]["details"]["attempts_left"] == 1  # 4 wrong so far, across both codes
    assert (await verify_otp(c, phone, second)).status_code == 200


async def test_per_phone_and_per_ip_limits(http, wa, redis):
    phone = new_phone()
    for _ in range(3):  # RATE_LIMIT_OTP_PHONE=3/1d, each from another address
        assert (await request_otp(http(), phone)).status_code == 202
        await spend_cooldown(redis, phone)
    r = await request_otp(http(), phone)
    assert code_of(r, 429) == "rate_limited" and r.headers["X-RateLimit-Limit"] == "3"
    assert len(wa.to(phone)) == 3
    c = http()  # RATE_LIMIT_OTP_IP=6/1d: a seventh phone from one address is refused
    for _ in range(6):
        assert (await request_otp(c, new_phone())).status_code == 202
    r = await request_otp(c, new_phone())
    assert code_of(r, 429) == "rate_limited" and r.headers["X-RateLimit-Limit"] == "6" and r.headers["Retry-After"]


@pytest.mark.parametrize("phone", ["123", "+999123456789", "not a phone", "+2010123", "0020"])
async def test_bad_phones(http, phone):
    c = http()
    assert code_of(await request_otp(c, phone), 400) == "invalid_phone"
    assert code_of(await verify_otp(c, phone, "123456"), 400) == "invalid_phone"
    assert (
        code_of(
            await c.post(
                "/auth/register", json={"phone": phone, "password": "password123", "username": f"b{uuid4().hex[:8]}"}
            ),
            400,
        )
        == "invalid_phone"
    )
    g = await c.post(
        "/graphql",
        json={"query": "mutation($p: String!) { requestOtp(phone: $p) { channel } }", "variables": {"p": phone}},
    )
    assert g.json()["errors"][0]["extensions"]["code"] == "invalid_phone"


async def test_malformed_requests(http):
    c = http()
    assert code_of(await c.post("/auth/otp/request", json={}), 422) == "validation_error"
    assert code_of(await c.post("/auth/otp/request", json={"phone": new_phone(), "x": 1}), 422) == "validation_error"
    assert code_of(await verify_otp(c, new_phone(), "12ab56"), 422) == "validation_error"
    assert (
        code_of(await c.post("/auth/otp/request", content=b"[]", headers={"Content-Type": "application/json"}), 400)
        == "bad_request"
    )
    # a bad bearer token is refused, not treated as anonymous
    r = await request_otp(c, new_phone(), {"Authorization": "Bearer nope"})
    assert code_of(r, 401) == "invalid_token"


async def test_provider_down_or_refusing(http, wa, redis, db):
    c, phone = http(), new_phone()
    user = await proven_phone_user(c, db, phone)
    assert (await request_otp(c, phone)).status_code == 202
    first = wa.last_code(phone)
    await spend_cooldown(redis, phone)
    wa.mode = "down"
    try:
        r = await request_otp(c, phone)
        assert code_of(r, 503) == "provider_unavailable" and r.headers["Retry-After"]
        assert r.json()["error"]["details"]["fbtrace_id"] == "Afake503"
        # the cool-down was released: an immediate retry reaches the provider again
        wa.mode = "reject"
        r = await request_otp(c, phone)
        assert code_of(r, 503) == "provider_rejected"
        assert r.json()["error"]["details"]["error_code"] == 131026
    finally:
        wa.mode = "ok"
    # the earlier code was not consumed by the failed resends
    r = await verify_otp(c, phone, first)
    assert r.status_code == 200 and r.json()["user"]["id"] == user["user"]["id"]
    failed = await db.fetch(
        "SELECT details FROM audit_log WHERE action = 'auth.phone_code_failed' AND subject = $1",
        f"user:{user['user']['id']}",
    )
    assert len(failed) == 2


async def test_another_accounts_phone_cannot_be_claimed(http, wa, db):
    c, phone = http(), new_phone()
    await proven_phone_user(c, db, phone)
    other = await signup(c, email=f"x{uuid4().hex[:8]}@example.com")
    assert code_of(await request_otp(c, phone, other["headers"]), 409) == "phone_taken"
    assert not wa.to(phone)


async def test_graphql_faces(http, wa, db):
    c, phone = http(), new_phone()
    user = await proven_phone_user(c, db, phone)

    async def gql(query: str, headers: dict | None = None, **variables):
        return (await c.post("/graphql", json={"query": query, "variables": variables}, headers=headers or {})).json()

    sent = await gql("mutation($p: String!) { requestOtp(phone: $p) { channel expiresIn resendAfter } }", p=phone)
    assert sent["data"]["requestOtp"] == {"channel": "otp", "expiresIn": 300, "resendAfter": 86400}
    wrong = await gql('mutation($p: String!) { verifyOtp(phone: $p, code: "000000") { verified } }', p=phone)
    if wa.last_code(phone) != "000000":
        assert wrong["errors"][0]["extensions"]["code"] == "invalid_code"
        assert wrong["errors"][0]["extensions"]["details"]["attempts_left"] == 4
    done = await gql(
        "mutation($p: String!, $c: String!) { verifyOtp(phone: $p, code: $c) "
        "{ verified phone auth { accessToken user { id phone phoneVerified } } user { id } } }",
        p=phone,
        c=wa.last_code(phone),
    )
    out = done["data"]["verifyOtp"]
    assert out["verified"] is False and out["phone"] is None and out["user"]["id"] == user["user"]["id"]
    assert out["auth"]["user"] == {"id": user["user"]["id"], "phone": None, "phoneVerified": True}
    me = await gql("{ me { id phone phoneVerified } }", {"Authorization": f"Bearer {out['auth']['accessToken']}"})
    assert me["data"]["me"] == {"id": user["user"]["id"], "phone": phone, "phoneVerified": True}


async def test_audit_log_records_no_code(http, wa, db, redis):
    c, phone = http(), new_phone()
    user = await signup(c, email=f"a{uuid4().hex[:8]}@example.com", phone=phone)  # a claim, proven below
    assert (await request_otp(c, phone, user["headers"])).status_code == 202
    await verify_otp(c, phone, "000000" if wa.last_code(phone) != "000000" else "111111", user["headers"])
    assert (await verify_otp(c, phone, wa.last_code(phone), user["headers"])).status_code == 200
    await spend_cooldown(redis, phone)
    assert (await request_otp(c, phone)).status_code == 202
    assert (await verify_otp(c, phone, wa.last_code(phone))).status_code == 200  # an OTP login
    rows = await db.fetch(
        "SELECT action, subject, details::text AS details FROM audit_log "
        "WHERE subject = $1 OR actor_user_id = $2 ORDER BY id",
        f"user:{user['user']['id']}",
        user["user"]["id"],
    )
    actions = [r["action"] for r in rows]
    assert actions[:2] == ["auth.register", "auth.login"]
    assert {"auth.phone_code_sent", "auth.phone_verify_failed", "auth.phone_verified"} <= set(actions)
    assert [r for r in rows if r["action"] == "auth.login"][-1]["details"] == '{"method": "otp"}'
    text = "\n".join(f"{r['subject']} {r['details']}" for r in rows)
    for code in wa.codes[phone]:
        assert code not in text
    assert phone not in text and phone[1:] not in text
