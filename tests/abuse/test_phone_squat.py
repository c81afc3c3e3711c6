"""The attacker squats a phone: over HTTP only, against the running system (`system`: its base
URL). They may claim a number on their own email account, never log in with it, never open a
phone-only account on it, and their claim cannot keep the owner from it."""

from __future__ import annotations

from uuid import uuid4

import httpx

from tests.support.stubs import ips, new_phone


def _client(system) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=system.base, timeout=15, transport=httpx.AsyncHTTPTransport(local_address=next(ips))
    )


def _code(r: httpx.Response) -> str:
    return r.json()["error"]["code"]


async def test_squatting_a_phone_gets_the_attacker_nothing(system):
    victim = new_phone()
    async with _client(system) as attacker:
        # no phone-only account with a password on someone else's number (REST, GraphQL)
        r = await attacker.post(
            "/auth/register", json={"phone": victim, "password": "squat squat 1", "username": f"sq{uuid4().hex[:8]}"}
        )
        assert r.status_code == 400 and _code(r) == "phone_proof_required"
        g = await attacker.post(
            "/graphql",
            json={
                "query": "mutation($p: String!, $u: String!) { register(input: "
                '{phone: $p, password: "squat squat 1", username: $u}) { accessToken } }',
                "variables": {"p": victim, "u": f"sq{uuid4().hex[:8]}"},
            },
        )
        assert g.json()["errors"][0]["extensions"]["code"] == "phone_proof_required"

        # a claim on the attacker's own email account: accepted, but it logs nobody in
        email = f"sq{uuid4().hex[:8]}@example.com"
        r = await attacker.post(
            "/auth/register",
            json={"email": email, "phone": victim, "password": "squat squat 1", "username": f"sq{uuid4().hex[:8]}"},
        )
        assert r.status_code == 201, r.text
        token = r.json()["access_token"]
        r = await attacker.post("/auth/login", json={"phone": victim, "password": "squat squat 1"})
        assert r.status_code == 401 and _code(r) == "invalid_credentials"
        g = await attacker.post(
            "/graphql",
            json={
                "query": "mutation($p: String!) "
                '{ login(input: {phone: $p, password: "squat squat 1"}) { accessToken } }',
                "variables": {"p": victim},
            },
        )
        assert g.json()["errors"][0]["extensions"]["code"] == "invalid_credentials"
        # nor reset anyone's password by it without the code
        r = await attacker.post(
            "/auth/password/reset/phone", json={"phone": victim, "code": "123456", "password": "squat squat 2"}
        )
        assert r.status_code == 401 and _code(r) in ("code_expired", "invalid_code")
        me = await attacker.post(
            "/graphql", json={"query": "{ me { phone phoneVerified } }"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert me.json()["data"]["me"] == {"phone": victim, "phoneVerified": False}

    # the owner is not blocked by the claim: asking for a code is answered as for any number
    async with _client(system) as owner:
        r = await owner.post("/auth/otp/request", json={"phone": victim})
        assert r.status_code == 202, r.text
