"""An attacker writes X-Forwarded-For to look like a new client on every request; nobody is a
trusted proxy here (TRUSTED_PROXIES is empty by default), so the per-IP limits still count the
TCP peer: the sixth registration from one address within RATE_LIMIT_REGISTER (5/30m) is a 429."""

from __future__ import annotations

import uuid


def _body() -> dict:
    tag = uuid.uuid4().hex[:10]
    return {"email": f"s{tag}@example.com", "password": "password123", "username": f"s{tag}"}


async def test_a_spoofed_forwarded_for_does_not_dodge_the_per_ip_limit(client_from):
    c = client_from("127.0.0.1")  # the peer uvicorn trusted by default before TRUSTED_PROXIES
    answers = []
    for n in range(6):
        spoof = {
            "X-Forwarded-For": f"203.0.113.{n + 1}",
            "X-Real-IP": f"203.0.113.{n + 1}",
            "Forwarded": f"for=203.0.113.{n + 1}",
        }
        answers.append(await c.post("/auth/register", json=_body(), headers=spoof))
    assert [r.status_code for r in answers[:5]] == [201] * 5, [r.text for r in answers]
    refused = answers[5]
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited", refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    # another real address still registers: the limit is per client, not global
    other = client_from()
    assert (await other.post("/auth/register", json=_body())).status_code == 201


async def test_a_spoofed_forwarded_for_does_not_dodge_the_login_limit(client_from):
    c = client_from()
    codes = []
    for n in range(16):  # RATE_LIMIT_LOGIN 15/5m per IP
        r = await c.post(
            "/auth/login",
            json={"email": f"nobody{n}@example.com", "password": "wrong-password-1"},
            headers={"X-Forwarded-For": f"198.51.100.{n + 1}"},
        )
        codes.append(r.status_code)
    assert codes[:15] == [401] * 15 and codes[15] == 429, codes
