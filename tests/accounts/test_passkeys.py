"""Passkeys (WebAuthn) driven by a software authenticator built here: an EC P-256 key, attestation
"none", authenticatorData and clientDataJSON built and signed as the WebAuthn spec says (§6.1,
§6.5, §7). Register, list, log in, and the refusals: a replayed challenge, a wrong origin, a
revoked credential, another user's credential or challenge, a sign-count regression, no user
verification; the GraphQL faces and the audit log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os

import cbor2
import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.client import code_of
from tests.support.factories import register

ORIGIN = "http://localhost:3000"  # WEBAUTHN_ORIGINS' default, as is the RP id "localhost"
UP, UV, AT = 0x01, 0x04, 0x40  # authenticatorData flags: user present, user verified, attested data


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    """One credential on one device, as a platform authenticator would hold it."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0
        self.user_handle: bytes | None = None

    def cose_public_key(self) -> bytes:
        n = self.key.public_key().public_numbers()
        # COSE_Key (RFC 9053): kty EC2, alg ES256, crv P-256, x, y
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: n.x.to_bytes(32, "big"), -3: n.y.to_bytes(32, "big")})

    @staticmethod
    def client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()

    def create(self, options: dict, *, origin: str = ORIGIN) -> dict:
        """navigator.credentials.create(): attestation "none"."""
        self.user_handle = unb64u(options["user"]["id"])
        client_data = self.client_data("webauthn.create", options["challenge"], origin)
        auth_data = (
            hashlib.sha256(options["rp"]["id"].encode()).digest()
            + bytes([UP | UV | AT])
            + self.sign_count.to_bytes(4, "big")
            + bytes(16)  # AAGUID: none
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self.cose_public_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64u(self.credential_id),
            "rawId": b64u(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64u(client_data),
                "attestationObject": b64u(attestation),
                "transports": ["internal", "hybrid"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def get(self, options: dict, *, origin: str = ORIGIN, flags: int = UP | UV, count: int | None = None) -> dict:
        """navigator.credentials.get(): signs authenticatorData || SHA-256(clientDataJSON)."""
        self.sign_count = self.sign_count + 1 if count is None else count
        client_data = self.client_data("webauthn.get", options["challenge"], origin)
        auth_data = (
            hashlib.sha256(options["rpId"].encode()).digest() + bytes([flags]) + self.sign_count.to_bytes(4, "big")
        )
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64u(self.credential_id),
            "rawId": b64u(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64u(client_data),
                "authenticatorData": b64u(auth_data),
                "signature": b64u(signature),
                "userHandle": b64u(self.user_handle or b""),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }


async def enroll(client, user: dict, device: SoftAuthenticator, name: str = "Pixel 8") -> dict:
    r = await client.post("/auth/passkeys/register/options", headers=user["headers"])
    assert r.status_code == 200, r.text
    r = await client.post(
        "/auth/passkeys/register/verify",
        headers=user["headers"],
        json={"credential": device.create(r.json()), "device_name": name},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def login_options(client, **who) -> dict:
    r = await client.post("/auth/passkeys/login/options", json=who)
    assert r.status_code == 200, r.text
    return r.json()


async def passkey_login(client, credential: dict) -> httpx.Response:
    return await client.post("/auth/passkeys/login/verify", json={"credential": credential})


async def test_register_list_and_log_in(client, db):
    user, device = await register(client), SoftAuthenticator()
    r = await client.post("/auth/passkeys/register/options", headers=user["headers"])
    options = r.json()
    assert options["rp"] == {"id": "localhost", "name": "D-A-I-R-A"}
    assert unb64u(options["user"]["id"]) == bytes.fromhex(user["user"]["id"].replace("-", ""))
    assert options["attestation"] == "none" and options["authenticatorSelection"]["userVerification"] == "required"
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"] and options["timeout"] == 120000
    r = await client.post(
        "/auth/passkeys/register/verify",
        headers=user["headers"],
        json={"credential": device.create(options), "device_name": "Pixel 8"},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["credential_id"] == b64u(device.credential_id) and created["device_name"] == "Pixel 8"
    assert created["transports"] == ["internal", "hybrid"] and created["last_used_at"] is None
    listed = (await client.get("/auth/passkeys", headers=user["headers"])).json()
    assert listed == {"items": [created], "next_cursor": None}
    # a second registration excludes the first credential
    again = (await client.post("/auth/passkeys/register/options", headers=user["headers"])).json()
    assert [c["id"] for c in again["excludeCredentials"]] == [b64u(device.credential_id)]

    # log in, by email (allowCredentials) and discoverable (no identifier)
    options = await login_options(client, email=user["user"]["email"])
    assert [c["id"] for c in options["allowCredentials"]] == [b64u(device.credential_id)]
    assert options["rpId"] == "localhost" and options["userVerification"] == "required"
    r = await passkey_login(client, device.get(options))
    assert r.status_code == 200, r.text
    pair = r.json()
    assert pair["user"] == user["user"] and pair["token_type"] == "bearer"
    assert (
        await client.get("/auth/sessions", headers={"Authorization": f"Bearer {pair['access_token']}"})
    ).status_code == 200
    options = await login_options(client)
    assert options.get("allowCredentials", []) == []
    assert (await passkey_login(client, device.get(options))).status_code == 200
    row = await db.fetchrow(
        "SELECT sign_count, last_used_at, public_key FROM passkey_credentials WHERE credential_id = $1",
        device.credential_id,
    )
    assert row["sign_count"] == 2 and row["last_used_at"] is not None
    assert row["public_key"] == device.cose_public_key()


async def test_replayed_challenges_are_refused(client):
    user, device = await register(client), SoftAuthenticator()
    options = (await client.post("/auth/passkeys/register/options", headers=user["headers"])).json()
    credential = device.create(options)
    ok = await client.post("/auth/passkeys/register/verify", headers=user["headers"], json={"credential": credential})
    assert ok.status_code == 201
    replay = await client.post(
        "/auth/passkeys/register/verify", headers=user["headers"], json={"credential": credential}
    )
    assert code_of(replay, 401) == "challenge_invalid"

    options = await login_options(client, email=user["user"]["email"])
    assertion = device.get(options)
    assert (await passkey_login(client, assertion)).status_code == 200
    assert code_of(await passkey_login(client, assertion), 401) == "challenge_invalid"
    # a challenge the server never issued
    forged = device.get({**options, "challenge": b64u(os.urandom(32))})
    assert code_of(await passkey_login(client, forged), 401) == "challenge_invalid"


async def test_an_expired_challenge_is_refused(client, stack_env):
    import redis.asyncio as aioredis

    user, device = await register(client), SoftAuthenticator()
    await enroll(client, user, device)
    options = await login_options(client, email=user["user"]["email"])
    r = aioredis.from_url(stack_env["REDIS_URL"])
    try:
        key = f"passkey:auth:{options['challenge']}"
        assert 0 < await r.ttl(key) <= 120
        await r.delete(key)  # as if WEBAUTHN_CHALLENGE_TTL had passed
    finally:
        await r.aclose()
    assert code_of(await passkey_login(client, device.get(options)), 401) == "challenge_invalid"


async def test_wrong_origin_and_missing_user_verification(client):
    user, device = await register(client), SoftAuthenticator()
    options = (await client.post("/auth/passkeys/register/options", headers=user["headers"])).json()
    r = await client.post(
        "/auth/passkeys/register/verify",
        headers=user["headers"],
        json={"credential": device.create(options, origin="https://evil.example")},
    )
    assert code_of(r, 400) == "passkey_invalid"
    assert (await client.get("/auth/passkeys", headers=user["headers"])).json()["items"] == []
    await enroll(client, user, device)
    options = await login_options(client, email=user["user"]["email"])
    assert (
        code_of(await passkey_login(client, device.get(options, origin="https://evil.example")), 401)
        == "passkey_invalid"
    )
    options = await login_options(client, email=user["user"]["email"])
    assert code_of(await passkey_login(client, device.get(options, flags=UP)), 401) == "passkey_invalid"
    # a signature by another key
    options = await login_options(client, email=user["user"]["email"])
    thief = SoftAuthenticator()
    thief.credential_id = device.credential_id
    assert code_of(await passkey_login(client, thief.get(options, count=99)), 401) == "passkey_invalid"


async def test_sign_count_regression_is_refused(client, db):
    user, device = await register(client), SoftAuthenticator()
    await enroll(client, user, device)
    options = await login_options(client, email=user["user"]["email"])
    assert (await passkey_login(client, device.get(options, count=7))).status_code == 200
    options = await login_options(client, email=user["user"]["email"])
    r = await passkey_login(client, device.get(options, count=7))  # a clone replaying the counter
    assert code_of(r, 401) == "passkey_sign_count"
    assert (
        await db.fetchval("SELECT sign_count FROM passkey_credentials WHERE credential_id = $1", device.credential_id)
        == 7
    )
    reasons = await db.fetch(
        "SELECT details->>'reason' AS reason FROM audit_log WHERE action = 'auth.login_failed' "
        "AND subject = (SELECT 'passkey:' || id FROM passkey_credentials WHERE credential_id = $1)",
        device.credential_id,
    )
    assert [r["reason"] for r in reasons] == ["passkey_sign_count"]


async def test_revoked_credential(client):
    user, device, other = await register(client), SoftAuthenticator(), SoftAuthenticator()
    first = await enroll(client, user, device, "phone")
    second = await enroll(client, user, other, "tablet")
    assert [
        p["device_name"] for p in (await client.get("/auth/passkeys", headers=user["headers"])).json()["items"]
    ] == ["phone", "tablet"]
    assert (await client.delete(f"/auth/passkeys/{first['id']}", headers=user["headers"])).status_code == 204
    assert (
        code_of(await client.delete(f"/auth/passkeys/{first['id']}", headers=user["headers"]), 404)
        == "passkey_not_found"
    )
    assert [p["id"] for p in (await client.get("/auth/passkeys", headers=user["headers"])).json()["items"]] == [
        second["id"]
    ]
    options = await login_options(client, email=user["user"]["email"])
    assert [c["id"] for c in options["allowCredentials"]] == [b64u(other.credential_id)]
    assert code_of(await passkey_login(client, device.get(options)), 401) == "passkey_unknown"
    assert code_of(await client.delete("/auth/passkeys/nope", headers=user["headers"]), 400) == "invalid_id"
    assert code_of(await client.get("/auth/passkeys"), 401) == "unauthorized"


async def test_another_users_credential_or_challenge(client):
    alice, bob = await register(client), await register(client)
    alice_key, bob_key = SoftAuthenticator(), SoftAuthenticator()
    alice_pk = await enroll(client, alice, alice_key)
    await enroll(client, bob, bob_key)
    # Bob cannot revoke Alice's passkey
    assert (
        code_of(await client.delete(f"/auth/passkeys/{alice_pk['id']}", headers=bob["headers"]), 404)
        == "passkey_not_found"
    )
    # options asked for Alice cannot be answered with Bob's passkey
    options = await login_options(client, email=alice["user"]["email"])
    assert code_of(await passkey_login(client, bob_key.get(options)), 401) == "passkey_not_allowed"
    # Bob cannot finish a registration with a challenge issued to Alice
    options = (await client.post("/auth/passkeys/register/options", headers=alice["headers"])).json()
    r = await client.post(
        "/auth/passkeys/register/verify",
        headers=bob["headers"],
        json={"credential": SoftAuthenticator().create(options)},
    )
    assert code_of(r, 401) == "challenge_invalid"
    # nor register a credential id Alice already holds
    options = (await client.post("/auth/passkeys/register/options", headers=bob["headers"])).json()
    clone = SoftAuthenticator()
    clone.credential_id = alice_key.credential_id
    r = await client.post(
        "/auth/passkeys/register/verify", headers=bob["headers"], json={"credential": clone.create(options)}
    )
    assert code_of(r, 409) == "passkey_exists"


async def test_login_options_do_not_reveal_accounts(client):
    ghost = "ghost-passkey@example.com"
    one, two = await login_options(client, email=ghost), await login_options(client, email=ghost)
    assert len(one["allowCredentials"]) == 1 and one["allowCredentials"] == two["allowCredentials"]
    assert one["challenge"] != two["challenge"]
    assert code_of(await passkey_login(client, SoftAuthenticator().get(one)), 401) == "passkey_unknown"
    assert (
        code_of(
            await client.post("/auth/passkeys/login/options", json={"email": "a@b.io", "phone": "+201001234567"}), 422
        )
        == "validation_error"
    )
    assert (
        code_of(await client.post("/auth/passkeys/login/verify", json={"credential": {"id": "x"}}), 400)
        == "invalid_credential"
    )
    assert code_of(await client.post("/auth/passkeys/register/options"), 401) == "unauthorized"


async def test_graphql_faces_and_audit(client, db):
    user, device = await register(client), SoftAuthenticator()

    async def gql(query: str, headers: dict | None = None, **variables):
        return (
            await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers or {})
        ).json()

    options = json.loads(
        (await gql("mutation { passkeyRegistrationOptions }", user["headers"]))["data"]["passkeyRegistrationOptions"]
    )
    made = await gql(
        'mutation($c: String!) { registerPasskey(credential: $c, deviceName: "iPhone") '
        "{ id credentialId deviceName backedUp } }",
        user["headers"],
        c=json.dumps(device.create(options)),
    )
    pk = made["data"]["registerPasskey"]
    assert pk["credentialId"] == b64u(device.credential_id) and pk["deviceName"] == "iPhone"
    listed = await gql("{ passkeys { id transports } }", user["headers"])
    assert listed["data"]["passkeys"] == [{"id": pk["id"], "transports": ["internal", "hybrid"]}]
    options = json.loads(
        (await gql("mutation($e: String) { passkeyLoginOptions(email: $e) }", e=user["user"]["email"]))["data"][
            "passkeyLoginOptions"
        ]
    )
    logged = await gql(
        "mutation($c: String!) { loginWithPasskey(credential: $c) { accessToken user { id } } }",
        c=json.dumps(device.get(options)),
    )
    assert logged["data"]["loginWithPasskey"]["user"]["id"] == user["user"]["id"]
    bad = await gql('mutation { loginWithPasskey(credential: "not json") { accessToken } }')
    assert bad["errors"][0]["extensions"]["code"] == "validation_error"
    assert (await gql("mutation($id: ID!) { revokePasskey(id: $id) }", user["headers"], id=pk["id"]))["data"][
        "revokePasskey"
    ] is True
    anon = await gql("mutation { passkeyRegistrationOptions }")
    assert anon["errors"][0]["extensions"]["code"] == "unauthorized"

    rows = await db.fetch(
        "SELECT action, subject, details FROM audit_log WHERE actor_user_id = $1 ORDER BY id", user["user"]["id"]
    )
    actions = [r["action"] for r in rows]
    assert "auth.passkey_registered" in actions and "auth.passkey_revoked" in actions
    assert json.loads([r for r in rows if r["action"] == "auth.login"][-1]["details"]) == {"method": "passkey"}
    text = str([dict(r) for r in rows])
    assert options["challenge"] not in text and b64u(device.credential_id) not in text
