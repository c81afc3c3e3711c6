"""The attacker tries to lock someone's number with wrong codes: over HTTP only, against the
running system (`system`). Their wrong codes lock one channel at most; the other opens for the
owner after OTP_FALLBACK_DELAY and cannot be locked; one requester's wrong codes stop being
accepted (too_many_wrong_codes) whatever number they aim at."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.stubs import ips, new_phone


def _client(system, **kw) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=system.base, timeout=15, transport=httpx.AsyncHTTPTransport(local_address=next(ips)), **kw
    )


async def _post(system, path: str, body: dict) -> httpx.Response:
    async with _client(system) as c:
        return await c.post(path, json=body)


async def test_wrong_codes_cannot_lock_the_owner_out(system):
    victim = new_phone()
    assert (await _post(system, "/auth/otp/request", {"phone": victim})).status_code == 202
    # a botnet: every guess from another address
    answers = [await _post(system, "/auth/verify-otp", {"phone": victim, "code": f"{n:06d}"}) for n in range(5)]
    last = answers[-1]  # (one of 000000-000004 being the code: a one-in-200,000 false failure)
    assert [a.status_code for a in answers] == [401] * 4 + [429], [a.text for a in answers]
    err = last.json()["error"]
    assert err["code"] == "phone_locked" and err["details"]["fallback"] == "flash_call"
    wait = err["details"]["fallback_after"]
    assert 0 < wait <= int(last.headers["Retry-After"])

    # the owner: OTP is locked, the flash call opens after the delay
    r = await _post(system, "/auth/otp/request", {"phone": victim})
    assert r.status_code == 429 and r.json()["error"]["code"] == "phone_locked"
    r = await _post(system, "/auth/flash-call", {"phone": victim})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) <= wait
    await asyncio.sleep(int(r.headers["Retry-After"]) + 1)
    assert (await _post(system, "/auth/flash-call", {"phone": victim})).status_code == 202

    # the attacker's wrong calling numbers void the call, never lock the fallback
    for n in range(7):
        r = await _post(system, "/auth/flash-call/verify", {"phone": victim, "code": f"+2015500000{n:02d}"})
        assert r.status_code == 401 and r.json()["error"]["code"] in ("invalid_code", "code_expired"), r.text
    r = await _post(system, "/auth/flash-call", {"phone": victim})
    assert r.json().get("error", {}).get("code") != "phone_locked", r.text


async def test_one_requester_runs_out_of_wrong_codes(system):
    async with _client(system, headers={"X-Device-Id": "attacker-phone-1"}) as attacker:
        targets = [new_phone() for _ in range(6)]
        for p in targets:
            assert (await _post(system, "/auth/otp/request", {"phone": p})).status_code == 202
        seen = []
        for p in targets:
            for guess in ("000001", "000002"):
                r = await attacker.post("/auth/verify-otp", json={"phone": p, "code": guess})
                seen.append(r.json()["error"]["code"])
        # RATE_LIMIT_OTP_FAIL (10/1h by default): the eleventh wrong code is refused before it is tried
        assert "too_many_wrong_codes" in seen
        assert seen.index("too_many_wrong_codes") <= 10
    # the same device from another address is refused too
    async with _client(system, headers={"X-Device-Id": "attacker-phone-1"}) as again:
        r = await again.post("/auth/verify-otp", json={"phone": targets[0], "code": "000003"})
        assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_wrong_codes"
