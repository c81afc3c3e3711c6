"""Flash call through Sinch's Verification API (a local stub that checks the application signed
request and the documented bodies), verified by Sinch's report endpoint; the limits and lockout
shared with OTP; Sinch down; and the logging development provider that `make run` uses.
"""

from __future__ import annotations

import re
from uuid import uuid4

import httpx
import pytest

from tests.support.client import code_of
from tests.support.factories import proven_phone_user, signup
from tests.support.processes import start_api
from tests.support.stubs import SinchStub, ips, new_phone
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def sinch():
    stub = SinchStub()
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def sinch_api(stack_env, log_dir, sinch):
    proc, base = start_api(stack_env, log_dir, OTP_RESEND_COOLDOWN="1d", **sinch.env())
    yield base
    proc.stop()


@pytest.fixture
async def http(sinch_api):
    clients: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        c = httpx.AsyncClient(
            base_url=sinch_api, timeout=15, transport=httpx.AsyncHTTPTransport(local_address=next(ips))
        )
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


async def start(c, phone: str, headers: dict | None = None) -> httpx.Response:
    return await c.post("/auth/flash-call", json={"phone": phone}, headers=headers or {})


async def verify(c, phone: str, code: str, headers: dict | None = None) -> httpx.Response:
    return await c.post("/auth/flash-call/verify", json={"phone": phone, "code": code}, headers=headers or {})


def wrong_cli(cli: str) -> str:
    return cli[:-1] + ("0" if cli[-1] != "0" else "1")


async def test_sinch_flash_call_verifies_the_callers_phone_then_logs_in(http, sinch, redis):
    c, phone = http(), new_phone()
    user = await signup(c, email=f"s{uuid4().hex[:8]}@example.com")
    r = await start(c, phone, user["headers"])
    assert r.status_code == 202, r.text
    assert r.json() == {
        "channel": "flash_call",
        "expires_in": 300,
        "resend_after": 86400,
        "cli_filter": "(.*)",
        "interception_timeout": 45,
    }
    [req] = sinch.to(phone)
    assert req["method"] == "POST" and req["path"] == "/verification/v1/verifications"
    assert req["json"] == {"identity": {"type": "number", "endpoint": phone}, "method": "flashCall"}
    assert req["headers"]["Authorization"].startswith(f"Application {sinch.key}:") and sinch.bad_auth == 0
    assert sinch.secret not in str(req["headers"])
    cli = sinch.calls[phone]
    assert (await redis.hget(f"phonever:flash_call:{phone}", "h")) == b""  # Sinch holds the secret

    bad = await verify(c, phone, wrong_cli(cli), user["headers"])
    assert code_of(bad, 401) == "invalid_code" and bad.json()["error"]["details"]["attempts_left"] == 4
    r = await verify(c, phone, cli, user["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["verified"] is True and r.json()["phone"] == phone
    reports = [q for q in sinch.to(phone) if q["method"] == "PUT"]
    assert reports[-1]["path"] == f"/verification/v1/verifications/number/{phone}"
    assert reports[-1]["json"] == {"method": "flashCall", "flashCall": {"cli": cli}}

    # later, without a token: a flash call logs into the account with that verified phone
    await redis.delete(f"phonever:cooldown:flash_call:{phone}")
    c2 = http()
    assert (await start(c2, phone)).status_code == 202
    r = await verify(c2, phone, sinch.calls[phone])
    assert r.status_code == 200 and r.json()["user"]["id"] == user["user"]["id"] and r.json()["access_token"]
    assert sinch.bad_auth == 0


async def test_flash_call_brute_force_locks_it_and_delays_otp(http, sinch, db):
    c, phone = http(), new_phone()
    await proven_phone_user(c, db, phone)
    assert (await start(c, phone)).status_code == 202
    cli = sinch.calls[phone]
    for n in range(4):
        r = await verify(c, phone, f"+4671{n:07d}")  # the stub calls from +4670...
        assert code_of(r, 401) == "invalid_code"
    assert code_of(await verify(c, phone, wrong_cli(cli)), 429) == "phone_locked"
    assert code_of(await verify(c, phone, cli), 429) == "phone_locked"
    assert code_of(await http().post("/auth/otp/request", json={"phone": phone}), 429) == "phone_locked"


async def test_resend_cooldown_and_sinch_expiry(http, sinch, redis, db):
    c, phone = http(), new_phone()
    await proven_phone_user(c, db, phone)
    assert (await start(c, phone)).status_code == 202
    assert code_of(await start(http(), phone), 429) == "resend_too_soon"
    del sinch.calls[phone]  # Sinch forgot it (its reportTimeout passed): the report answers 404
    assert code_of(await verify(c, phone, "+46700000000"), 401) == "code_expired"
    assert not await redis.exists(f"phonever:flash_call:{phone}")


async def test_sinch_down(http, sinch, db):
    c, phone = http(), new_phone()
    user = await proven_phone_user(c, db, phone)
    sinch.mode = "down"
    try:
        r = await start(c, phone)
        assert code_of(r, 503) == "provider_unavailable"
        assert r.json()["error"]["details"] == {
            "provider": "sinch",
            "http_status": 503,
            "error_code": 50300,
            "reference": "ref-503",
        }
        sinch.mode = "ok"
        assert (await start(c, phone)).status_code == 202  # the cool-down was released
        cli = sinch.calls[phone]
        sinch.mode = "down"
        assert code_of(await verify(c, phone, cli), 503) == "provider_unavailable"
        assert code_of(await verify(c, phone, cli), 503) == "provider_unavailable"
    finally:
        sinch.mode = "ok"
    # Sinch's failures did not spend attempts
    bad = await verify(c, phone, wrong_cli(cli))
    assert bad.json()["error"]["details"]["attempts_left"] == 4
    r = await verify(c, phone, cli)
    assert r.status_code == 200 and r.json()["user"]["id"] == user["user"]["id"]


async def test_bad_input(http):
    c = http()
    assert code_of(await start(c, "12"), 422) == "validation_error"
    assert code_of(await start(c, "+99912345678"), 400) == "invalid_phone"
    assert code_of(await verify(c, new_phone(), "abc123"), 422) == "validation_error"


def _dev_code(log_dir, phone: str) -> str | None:
    for path in log_dir.glob("api-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if f"DEV flash call to {phone}" in line:
                return re.search(r"code: (\d{4})", line).group(1)
    return None


async def test_development_provider_logs_the_call(client, log_dir, db):
    """The suite's API has no SINCH_* settings: the logging provider, checked locally."""
    phone = new_phone()
    user = await proven_phone_user(client, db, phone)
    r = await start(client, phone)
    assert r.status_code == 202, r.text
    assert r.json()["cli_filter"] == r"^\+20155\d{7}$"
    code = await wait_for(lambda: _dev_code(log_dir, phone), what="the dev provider's log line")
    wrong = f"{(int(code) + 1) % 10000:04d}"
    assert code_of(await verify(client, phone, wrong), 401) == "invalid_code"
    r = await verify(client, phone, "+20155123" + code)  # the whole calling number works too
    assert r.status_code == 200 and r.json()["user"]["id"] == user["user"]["id"]


async def test_graphql_faces(http, sinch):
    c, phone = http(), new_phone()
    user = await signup(c, email=f"g{uuid4().hex[:8]}@example.com", phone=phone)  # a claim, proven here

    async def gql(query: str, **variables):
        return (await c.post("/graphql", json={"query": query, "variables": variables}, headers=user["headers"])).json()

    sent = await gql(
        "mutation($p: String!) { requestFlashCall(phone: $p) { channel cliFilter interceptionTimeout } }", p=phone
    )
    assert sent["data"]["requestFlashCall"] == {"channel": "flash_call", "cliFilter": "(.*)", "interceptionTimeout": 45}
    done = await gql(
        "mutation($p: String!, $c: String!) { verifyFlashCall(phone: $p, code: $c) "
        "{ verified phone phoneVerifiedAt auth { accessToken } user { id phone phoneVerified } } }",
        p=phone,
        c=sinch.calls[phone],
    )
    out = done["data"]["verifyFlashCall"]
    assert out["verified"] is True and out["phone"] == phone and out["auth"] is None
    assert out["user"] == {"id": user["user"]["id"], "phone": phone, "phoneVerified": True}
