"""Consent records (PDPL): grant the current text's version, withdraw, the history, the audit rows,
and the GraphQL face over the same functions."""

from __future__ import annotations

from uuid import UUID

from models.accounts.consents import PURPOSES
from tests.support.client import code_of, gql
from tests.support.factories import register


def _item(body: dict, purpose: str) -> dict:
    return next(i for i in body["items"] if i["purpose"] == purpose)


async def test_grant_withdraw_and_history(client, db):
    u = await register(client)
    h = u["headers"]
    first = (await client.get("/users/me/consents", headers=h)).json()
    assert {i["purpose"] for i in first["items"]} == set(PURPOSES)
    m = _item(first, "marketing")
    assert m["granted"] is False and m["history"] == [] and m["required"] is False

    version = PURPOSES["marketing"].version
    r = await client.post("/users/me/consents", json={"purpose": "marketing", "version": version}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == version and r.json()["ended_at"] is None
    # the same version again changes nothing
    again = await client.post("/users/me/consents", json={"purpose": "marketing", "version": version}, headers=h)
    assert again.status_code == 201 and again.json()["granted_at"] == r.json()["granted_at"]
    assert _item((await client.get("/users/me/consents", headers=h)).json(), "marketing")["granted"] is True

    w = await client.delete("/users/me/consents/marketing", headers=h)
    assert w.status_code == 200, w.text
    assert w.json()["end_reason"] == "withdrawn" and w.json()["ended_at"] is not None
    m = _item((await client.get("/users/me/consents", headers=h)).json(), "marketing")
    assert m["granted"] is False and [x["end_reason"] for x in m["history"]] == ["withdrawn"]
    assert code_of(await client.delete("/users/me/consents/marketing", headers=h), 404) == "consent_not_found"

    actions = [
        r["action"]
        for r in await db.fetch(
            "SELECT action FROM audit_log WHERE subject = $1 AND action LIKE 'consent.%' ORDER BY id",
            f"user:{u['user']['id']}",
        )
    ]
    assert actions == ["consent.granted", "consent.withdrawn"]


async def test_a_newer_text_replaces_the_old_grant(client, db):
    u = await register(client)
    uid = UUID(u["user"]["id"])
    # a grant of an earlier text, as left by a previous release
    await db.execute(
        "INSERT INTO consents (id, user_id, purpose, version, granted_at)"
        " VALUES (gen_random_uuid(), $1, 'personalisation', '2025-01-01', now() - interval '1 day')",
        uid,
    )
    item = _item((await client.get("/users/me/consents", headers=u["headers"])).json(), "personalisation")
    assert item["granted"] is False and item["granted_version"] == "2025-01-01"
    version = PURPOSES["personalisation"].version
    r = await client.post(
        "/users/me/consents", json={"purpose": "personalisation", "version": version}, headers=u["headers"]
    )
    assert r.status_code == 201, r.text
    rows = await db.fetch(
        "SELECT version, end_reason FROM consents"
        " WHERE user_id = $1 AND purpose = 'personalisation' ORDER BY granted_at",
        uid,
    )
    assert [(x["version"], x["end_reason"]) for x in rows] == [("2025-01-01", "replaced"), (version, None)]


async def test_bad_consents(client):
    u = await register(client)
    h = u["headers"]
    stale = await client.post("/users/me/consents", json={"purpose": "terms", "version": "1999-01-01"}, headers=h)
    assert code_of(stale, 409) == "consent_version_outdated"
    assert stale.json()["error"]["details"]["current_version"] == PURPOSES["terms"].version
    unknown = await client.post("/users/me/consents", json={"purpose": "nope", "version": "x"}, headers=h)
    assert code_of(unknown, 404) == "unknown_purpose"
    assert code_of(await client.delete("/users/me/consents/terms", headers=h), 409) == "consent_required"
    assert (
        code_of(await client.post("/users/me/consents", json={"purpose": "terms"}, headers=h), 422)
        == "validation_error"
    )
    assert (await client.get("/users/me/consents")).status_code == 401


async def test_graphql_face(client):
    u = await register(client)
    version = PURPOSES["marketing"].version
    out = await gql(
        client,
        u,
        'mutation($v: String!) { grantConsent(purpose: "marketing", version: $v) { purpose version endedAt } }',
        {"v": version},
    )
    assert out["data"]["grantConsent"] == {"purpose": "marketing", "version": version, "endedAt": None}
    listed = await gql(client, u, "{ myConsents { purpose granted history { version endReason } } }")
    m = next(i for i in listed["data"]["myConsents"] if i["purpose"] == "marketing")
    assert m == {"purpose": "marketing", "granted": True, "history": [{"version": version, "endReason": None}]}
    refused = await gql(client, u, 'mutation { withdrawConsent(purpose: "privacy_notice") { endedAt } }')
    assert refused["errors"][0]["extensions"]["code"] == "consent_required"
    done = await gql(client, u, 'mutation { withdrawConsent(purpose: "marketing") { endReason } }')
    assert done["data"]["withdrawConsent"] == {"endReason": "withdrawn"}
