"""A phone is a claim until proven (issue 13, item 1): phone-only accounts open only by a proof,
an unproven phone logs nobody in, the owner's proof takes the number from a claimant (who keeps
the email) and never logs into an account whose credentials someone else set; wrong codes are
counted per requester as well as per number, and one channel stays open for the owner; Arabic-Indic
digits are read as ASCII. REST and GraphQL faces.

An API of its own with the WhatsApp and Sinch stubs; each client talks from a fresh loopback
address. Time passing (a cool-down, the fallback delay) is simulated in Redis.
"""

from __future__ import annotations

import time
from uuid import uuid4

import httpx
import pytest

from tests.support.client import code_of
from tests.support.factories import signup
from tests.support.processes import start_api
from tests.support.stubs import SinchStub, WhatsAppStub, ips, new_phone

ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.fixture(scope="module")
def wa():
    stub = WhatsAppStub()
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def sinch():
    stub = SinchStub()
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def claims_api(stack_env, log_dir, wa, sinch):
    proc, base = start_api(stack_env, log_dir, RATE_LIMIT_OTP_FAIL="6/1d", **wa.env(), **sinch.env())
    yield base
    proc.stop()


@pytest.fixture
async def http(claims_api):
    clients: list[httpx.AsyncClient] = []

    def make(**kw) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=next(ips))
        c = httpx.AsyncClient(base_url=claims_api, timeout=15, transport=transport, **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


async def otp(c, phone: str, headers: dict | None = None) -> httpx.Response:
    return await c.post("/auth/otp/request", json={"phone": phone}, headers=headers or {})


async def verify(c, phone: str, code: str, headers: dict | None = None, **extra) -> httpx.Response:
    return await c.post("/auth/verify-otp", json={"phone": phone, "code": code, **extra}, headers=headers or {})


async def login_phone(c, phone: str, password: str) -> httpx.Response:
    return await c.post("/auth/login", json={"phone": phone, "password": password})


def bearer(pair: dict) -> dict:
    return {"Authorization": f"Bearer {pair['access_token']}"}


async def test_a_phone_alone_opens_an_account_only_through_a_proof(http, wa, db, redis):
    c, phone = http(), new_phone()
    # the squatter's way is closed: no phone-only registration with a password
    r = await c.post(
        "/auth/register", json={"phone": phone, "password": "squatter pw 1", "username": f"s{uuid4().hex[:8]}"}
    )
    assert code_of(r, 400) == "phone_proof_required"
    g = await c.post(
        "/graphql",
        json={
            "query": "mutation($p: String!) { register(input: "
            '{phone: $p, password: "squatter pw 1", username: "sq_x1"}) { accessToken } }',
            "variables": {"p": phone},
        },
    )
    assert g.json()["errors"][0]["extensions"]["code"] == "phone_proof_required"
    assert await db.fetchval("SELECT count(*) FROM users WHERE phone = $1", phone) == 0

    # request code -> verify -> the account exists (201), with the password given
    assert (await otp(c, phone)).status_code == 202
    name = f"p{uuid4().hex[:8]}"
    r = await verify(c, phone, wa.last_code(phone), username=name, password="owner pw 123")
    assert r.status_code == 201, r.text
    pair = r.json()
    assert pair["user"]["username"] == name and pair["user"]["email"] is None
    row = await db.fetchrow("SELECT id, phone_verified_at FROM users WHERE phone = $1", phone)
    assert str(row["id"]) == pair["user"]["id"] and row["phone_verified_at"] is not None
    # now the proven phone logs in, by password and by a new proof (200: same account)
    assert (await login_phone(http(), phone, "owner pw 123")).status_code == 200
    await spend_cooldown(redis, phone)
    c2 = http()
    assert (await otp(c2, phone)).status_code == 202
    again = await verify(c2, phone, wa.last_code(phone))
    assert again.status_code == 200 and again.json()["user"]["id"] == pair["user"]["id"]


async def spend_cooldown(redis, phone: str) -> None:
    """As if OTP_RESEND_COOLDOWN had passed."""
    await redis.delete(f"phonever:cooldown:otp:{phone}", f"phonever:cooldown:flash_call:{phone}")


async def test_graphql_proof_opens_an_account_without_a_password(http, wa, db):
    c, phone = http(), new_phone()
    assert (await otp(c, phone)).status_code == 202
    q = (
        "mutation($p: String!, $c: String!) { verifyOtp(phone: $p, code: $c) "
        "{ verified created auth { accessToken user { id phone phoneVerified } } } }"
    )
    g = await c.post("/graphql", json={"query": q, "variables": {"p": phone, "c": wa.last_code(phone)}})
    proof = g.json()["data"]["verifyOtp"]
    assert proof["verified"] is False and proof["created"] is True and proof["auth"]["accessToken"]
    uid = proof["auth"]["user"]["id"]
    # no password was set: none logs in
    assert code_of(await login_phone(http(), phone, "anything at all"), 401) == "invalid_credentials"
    assert await db.fetchval("SELECT password_hash FROM users WHERE id = $1", uid) == "!"


async def test_a_claim_logs_nobody_in_and_the_owners_proof_takes_the_number(http, wa, db):
    c, phone = http(), new_phone()
    squatter = await signup(c, email=f"sq{uuid4().hex[:8]}@example.com", phone=phone, password="squatter pw 1")
    # an unproven phone: password login by it fails like a wrong password
    assert code_of(await login_phone(http(), phone, "squatter pw 1"), 401) == "invalid_credentials"
    g = await http().post(
        "/graphql",
        json={
            "query": 'mutation($p: String!) { login(input: {phone: $p, password: "squatter pw 1"}) { accessToken } }',
            "variables": {"p": phone},
        },
    )
    assert g.json()["errors"][0]["extensions"]["code"] == "invalid_credentials"

    # the owner proves the number: a new account of their own, never the squatter's
    owner = http()
    assert (await otp(owner, phone)).status_code == 202
    r = await verify(owner, phone, wa.last_code(phone), password="owner pw 123")
    assert r.status_code == 201, r.text
    mine = r.json()
    assert mine["user"]["id"] != squatter["user"]["id"]
    # the claim is released; the squatter keeps the email, the password, the sessions
    row = await db.fetchrow("SELECT email, phone, phone_verified_at FROM users WHERE id = $1", squatter["user"]["id"])
    assert row["phone"] is None and row["phone_verified_at"] is None and row["email"] == squatter["user"]["email"]
    assert (
        await http().post("/auth/login", json={"email": squatter["user"]["email"], "password": "squatter pw 1"})
    ).status_code == 200
    assert code_of(await login_phone(http(), phone, "squatter pw 1"), 401) == "invalid_credentials"
    assert (await login_phone(http(), phone, "owner pw 123")).json()["user"]["id"] == mine["user"]["id"]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'auth.phone_claim_released' AND subject = $1",
            f"user:{squatter['user']['id']}",
        )
        == 1
    )


async def test_an_account_owner_proves_a_number_someone_else_claimed(http, wa, sinch, db):
    phone = new_phone()
    squatter = await signup(http(), email=f"sq{uuid4().hex[:8]}@example.com", phone=phone)
    owner = await signup(http(), email=f"ow{uuid4().hex[:8]}@example.com")
    c = http()
    # by flash call and GraphQL, with the owner's token: a claim is no phone_taken
    q = "mutation($p: String!) { requestFlashCall(phone: $p) { channel } }"
    g = await c.post("/graphql", json={"query": q, "variables": {"p": phone}}, headers=owner["headers"])
    assert g.json()["data"]["requestFlashCall"]["channel"] == "flash_call", g.text
    q = (
        "mutation($p: String!, $c: String!) { verifyFlashCall(phone: $p, code: $c) "
        "{ verified created phone user { id } } }"
    )
    g = await c.post(
        "/graphql", json={"query": q, "variables": {"p": phone, "c": sinch.calls[phone]}}, headers=owner["headers"]
    )
    proof = g.json()["data"]["verifyFlashCall"]
    assert proof == {"verified": True, "created": False, "phone": phone, "user": {"id": owner["user"]["id"]}}
    assert await db.fetchval("SELECT phone FROM users WHERE id = $1", squatter["user"]["id"]) is None
    # proven now: the squatter can no longer claim it, nor ask for codes with their token
    assert code_of(await otp(http(), phone, squatter["headers"]), 409) == "phone_taken"
    r = await http().post(
        "/auth/register",
        json={
            "email": f"x{uuid4().hex[:8]}@example.com",
            "phone": phone,
            "password": "whatever 123",
            "username": f"x{uuid4().hex[:8]}",
        },
    )
    assert code_of(r, 409) == "phone_taken"


async def test_arabic_indic_digits_in_phone_and_code(http, wa, db, redis):
    c, phone = http(), new_phone()
    national = ("0" + phone[3:]).translate(ARABIC)  # +2010xxxxxxxx -> ٠١٠xxxxxxxx
    assert (await otp(c, national)).status_code == 202
    code = wa.last_code(phone).translate(ARABIC)
    r = await verify(c, national, code)
    assert r.status_code == 201, r.text
    assert await db.fetchval("SELECT phone FROM users WHERE id = $1", r.json()["user"]["id"]) == phone
    q = "mutation($p: String!) { requestOtp(phone: $p) { channel } }"
    await spend_cooldown(redis, phone)
    g = await http().post("/graphql", json={"query": q, "variables": {"p": national}})
    assert g.json()["data"]["requestOtp"]["channel"] == "otp"


async def fallback_delay_passes(redis, phone: str, channel: str) -> None:
    """As if OTP_FALLBACK_DELAY had passed since `channel` locked (the lock's value says when)."""
    key = f"phonever:lock:{channel}:{phone}"
    await redis.set(key, str(time.time() - 1), ex=await redis.ttl(key))


async def test_strangers_cannot_lock_the_owner_out(http, wa, sinch, redis):
    phone = new_phone()
    owner = await signup(http(), email=f"ow{uuid4().hex[:8]}@example.com")
    # strangers, each from its own address and device, burn the owner's OTP channel
    assert (await otp(http(), phone)).status_code == 202
    code = wa.last_code(phone)
    wrong = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, 6)]
    answers = [await verify(http(headers={"X-Device-Id": uuid4().hex}), phone, w) for w in wrong]
    assert [a.json()["error"]["code"] for a in answers] == ["invalid_code"] * 4 + ["phone_locked"]
    details = answers[-1].json()["error"]["details"]
    assert details["channel"] == "otp" and details["fallback"] == "flash_call" and details["fallback_after"] == 30

    # the owner: OTP locked; the flash call opens after the delay
    me = http()
    r = await otp(me, phone, owner["headers"])
    assert code_of(r, 429) == "phone_locked" and r.json()["error"]["details"]["fallback"] == "flash_call"
    r = await me.post("/auth/flash-call", json={"phone": phone}, headers=owner["headers"])
    assert code_of(r, 429) == "phone_locked" and 0 < int(r.headers["Retry-After"]) <= 30
    await fallback_delay_passes(redis, phone, "otp")
    assert (await me.post("/auth/flash-call", json={"phone": phone}, headers=owner["headers"])).status_code == 202

    # strangers' wrong calling numbers on the fallback void the call, never lock the channel
    for _ in range(6):
        r = await http().post("/auth/flash-call/verify", json={"phone": phone, "code": "+46700000000"})
        assert r.json()["error"]["code"] in ("invalid_code", "code_expired"), r.text
    await spend_cooldown(redis, phone)
    assert (await me.post("/auth/flash-call", json={"phone": phone}, headers=owner["headers"])).status_code == 202
    r = await me.post(
        "/auth/flash-call/verify", json={"phone": phone, "code": sinch.calls[phone]}, headers=owner["headers"]
    )
    assert r.status_code == 200 and r.json()["verified"] is True, r.text


async def test_wrong_codes_are_counted_per_requester(http, wa, db):
    """RATE_LIMIT_OTP_FAIL is 6/1d here: a seventh wrong code from one IP, one device or one
    account is refused before it touches any number's code."""
    victim = new_phone()
    assert (await otp(http(), victim)).status_code == 202
    code = wa.last_code(victim)
    bad = f"{(int(code) + 1) % 10**6:06d}"
    # one IP, many numbers
    attacker = http()
    for _ in range(6):
        p = new_phone()
        assert code_of(await verify(attacker, p, "123456"), 401) == "code_expired"  # not counted: no code pending
    others = []
    for _ in range(6):
        p = new_phone()
        assert (await otp(http(), p)).status_code == 202
        others.append(p)
    for p in others:
        right = wa.last_code(p)
        assert code_of(await verify(attacker, p, f"{(int(right) + 1) % 10**6:06d}"), 401) == "invalid_code"
    r = await verify(attacker, victim, bad)
    assert code_of(r, 429) == "too_many_wrong_codes" and int(r.headers["Retry-After"]) > 0
    # one device from many IPs
    device = {"X-Device-Id": uuid4().hex}
    for p in others[:6]:
        await verify(http(headers=device), p, "000001")
    assert code_of(await verify(http(headers=device), victim, bad), 429) == "too_many_wrong_codes"
    # the refused tries cost the number nothing: the victim's code still has all its attempts
    r = await verify(http(), victim, code)
    assert r.status_code == 201, r.text
