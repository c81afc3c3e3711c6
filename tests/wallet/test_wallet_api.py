"""Wallet API: Idempotency-Key semantics, who may read or move a wallet, fee rounding, tip rules,
REST and GraphQL over the same functions."""

from __future__ import annotations

import asyncio
import uuid
from uuid import uuid4

import orjson
import pytest
import pytest_asyncio

from models.wallet import ledger
from models.wallet.tips import split
from tests.support.client import gql
from tests.support.factories import create_post, register
from tests.support.wallet import fund, key, make_admin, tip, wallet


@pytest_asyncio.fixture
async def pair(client, svc):
    a, b = await register(client), await register(client)
    await fund(svc, a["user"]["id"], 10_000)
    return a, b


SEND_TIP = (
    """mutation($input: TipInput!) { sendTip(input: $input) { id kind metadata entries { account userId amount } } }"""
)


async def test_same_key_same_body_is_the_same_tip(client, pair):
    a, b = pair
    h = key()
    first = await tip(client, a, b, 1000, headers=h, message="thanks")
    again = await tip(client, a, b, 1000, headers=h, message="thanks")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert (await wallet(client, a))["balance"] == 9000 and (await wallet(client, b))["balance"] == 900
    # GraphQL reaches the same domain function: the same key and body replay the same transaction
    via_gql = await gql(
        client, a, SEND_TIP, {"input": {"toUserId": b["user"]["id"], "amount": 1000, "message": "thanks"}}, headers=h
    )
    assert via_gql["data"]["sendTip"]["id"] == first.json()["id"]
    assert (await wallet(client, a))["balance"] == 9000


async def test_same_key_other_body_is_422(client, pair):
    a, b = pair
    h = key()
    assert (await tip(client, a, b, 1000, headers=h)).status_code == 201
    other = await tip(client, a, b, 2000, headers=h)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert (await wallet(client, a))["balance"] == 9000


async def test_concurrent_requests_with_one_key_move_money_once(client, pair):
    a, b = pair
    h = key()
    results = await asyncio.gather(*(tip(client, a, b, 700, headers=h) for _ in range(10)))
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["id"] for r in results}) == 1
    assert (await wallet(client, a))["balance"] == 10_000 - 700


async def test_every_money_moving_post_requires_a_key(client, pair):
    a, b = pair
    uid = a["user"]["id"]
    calls = [
        ("/wallets/tips", {"to_user_id": b["user"]["id"], "amount": 10}),
        (f"/wallets/{uid}/transactions", {"type": "topup", "amount": 1000}),
        (
            f"/wallets/{uid}/transactions",
            {"type": "cashout", "amount": 6000, "provider": "fawry", "destination": "01012345678"},
        ),
        (f"/creators/{b['user']['id']}/subscriptions", None),
    ]
    for path, body in calls:
        r = await client.post(path, json=body, headers=a["headers"])
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"]["code"] == "idempotency_key_required"
    gql_tip = await gql(client, a, SEND_TIP, {"input": {"toUserId": b["user"]["id"], "amount": 10}})
    assert gql_tip["errors"][0]["extensions"]["code"] == "idempotency_key_required"
    assert (await wallet(client, a))["balance"] == 10_000


async def test_another_users_wallet_is_never_readable_or_spendable(client, pair, svc):
    a, b = pair
    mallory = await register(client)
    target = a["user"]["id"]
    for path in (
        f"/wallets/{target}",
        f"/wallets/{target}/transactions",
        f"/wallets/{target}/metrics",
        f"/wallets/{target}/subscriptions",
    ):
        r = await client.get(path, headers=mallory["headers"])
        assert r.status_code == 404 and r.json()["error"]["code"] == "wallet_not_found", (path, r.text)
    for body in (
        {"type": "topup", "amount": 1000},
        {"type": "cashout", "amount": 6000, "provider": "fawry", "destination": "01012345678"},
        {"type": "adjustment", "amount": -10_000, "reason": "take it"},
    ):
        r = await client.post(f"/wallets/{target}/transactions", json=body, headers={**mallory["headers"], **key()})
        assert r.status_code == 404, r.text
    # a tip always spends the caller's own wallet, whatever the body says
    r = await client.post(
        "/wallets/tips",
        json={"to_user_id": mallory["user"]["id"], "amount": 100, "from_user_id": target},
        headers={**mallory["headers"], **key()},
    )
    assert r.status_code == 422
    # adjusting your own wallet is for admins only
    r = await client.post(
        f"/wallets/{mallory['user']['id']}/transactions",
        json={"type": "adjustment", "amount": 10**6, "reason": "free money"},
        headers={**mallory["headers"], **key()},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "admin_only"
    got = await gql(client, mallory, "query($u: ID!) { wallet(userId: $u) { balance } }", {"u": target})
    assert got["errors"][0]["extensions"]["code"] == "wallet_not_found"
    assert (await wallet(client, a))["balance"] == 10_000


async def test_an_admin_reads_and_adjusts_any_wallet(client, pair, svc):
    a, _ = pair
    admin = await register(client)
    await make_admin(svc, admin["user"]["id"])
    assert (await wallet(client, admin, owner=a))["balance"] == 10_000
    r = await client.post(
        f"/wallets/{a['user']['id']}/transactions",
        json={"type": "adjustment", "amount": -2500, "reason": "chargeback"},
        headers={**admin["headers"], **key()},
    )
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "adjustment" and r.json()["metadata"]["admin_id"] == admin["user"]["id"]
    assert (await wallet(client, a))["balance"] == 7500
    too_much = await client.post(
        f"/wallets/{a['user']['id']}/transactions",
        json={"type": "adjustment", "amount": -7501, "reason": "x"},
        headers={**admin["headers"], **key()},
    )
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "insufficient_funds"
    history = await client.get(f"/wallets/{a['user']['id']}/transactions", headers=admin["headers"])
    assert [i["amount"] for i in history.json()["items"]] == [-2500, 10_000]


@pytest.mark.parametrize("amount,fee,share", [(1000, 100, 900), (999, 99, 900), (15, 1, 14), (9, 0, 9), (1, 0, 1)])
async def test_fee_rounds_down_in_the_creators_favour(client, pair, amount, fee, share):
    a, b = pair
    r = await tip(client, a, b, amount)
    assert r.status_code == 201, r.text
    meta, entries = r.json()["metadata"], r.json()["entries"]
    assert (meta["creator_amount"], meta["fee"]) == (share, fee) == split(amount, 1000)
    assert sorted((e["account"], e["amount"]) for e in entries) == sorted(
        [("user", -amount), ("user", share)] + ([("platform_fee", fee)] if fee else [])
    )
    assert (await wallet(client, b))["balance"] == share


async def test_tip_rules(client, pair, svc):
    a, b = pair
    own = await tip(client, a, a, 10)
    assert own.status_code == 400 and own.json()["error"]["code"] == "cannot_tip_self"
    ghost = await client.post(
        "/wallets/tips", json={"to_user_id": str(uuid4()), "amount": 10}, headers={**a["headers"], **key()}
    )
    assert ghost.status_code == 404 and ghost.json()["error"]["code"] == "user_not_found"
    for bad in (0, -5, "10", 1.5):
        r = await client.post(
            "/wallets/tips", json={"to_user_id": b["user"]["id"], "amount": bad}, headers={**a["headers"], **key()}
        )
        assert r.status_code == 422, (bad, r.text)
    broke = await tip(client, a, b, 10_001)
    assert broke.status_code == 409 and broke.json()["error"]["code"] == "insufficient_funds"
    # on a post: it must be the recipient's
    post_of_a = await create_post(client, a)
    wrong = await tip(client, a, b, 10, post_id=post_of_a)
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "post_not_by_recipient"
    post_of_b = await create_post(client, b)
    ok = await tip(client, a, b, 10, post_id=post_of_b, message="great video")
    assert ok.status_code == 201 and ok.json()["metadata"]["post_id"] == post_of_b
    # blocked either way: refused
    r = await client.post(f"/users/{a['user']['id']}/block", headers=b["headers"])
    assert r.status_code in (200, 201, 204), r.text
    blocked = await tip(client, a, b, 10)
    assert blocked.status_code == 403 and blocked.json()["error"]["code"] == "blocked"
    assert (await wallet(client, a))["balance"] == 10_000 - 10
    assert (await ledger.reconcile(svc))["ok"]


async def test_bad_inputs_are_clear_4xx(client, pair):
    a, b = pair
    uid = a["user"]["id"]
    cases = [
        ("GET", "/wallets/not-a-uuid", None, 400, "invalid_id"),
        ("GET", f"/wallets/{uid}/transactions?cursor=abc", None, 400, "invalid_cursor"),
        ("GET", f"/wallets/{uid}/metrics?days=0", None, 422, "validation_error"),
        ("GET", f"/wallets/{uid}/topups/{uuid4()}", None, 404, "topup_not_found"),
        ("GET", f"/wallets/{uid}/cashouts/{uuid4()}", None, 404, "cashout_not_found"),
        ("POST", "/wallets/tips", b"{nope", 400, "bad_request"),
        ("POST", "/wallets/tips", {"to_user_id": b["user"]["id"], "amount": 10, "tip": 1}, 422, "validation_error"),
        ("POST", f"/wallets/{uid}/transactions", {"type": "gift", "amount": 10}, 422, "validation_error"),
        ("POST", f"/wallets/{uid}/transactions", {"type": "cashout", "amount": 10}, 422, "validation_error"),
        ("POST", f"/wallets/{uid}/transactions", {"type": "adjustment", "amount": 10}, 422, "validation_error"),
        ("POST", "/payments/fawry/notifications", {"merchantRefNumber": "x"}, 503, "provider_not_configured"),
        ("POST", "/payments/fawry/notifications", b"not json", 400, "bad_notification"),
    ]
    for method, path, body, status, code in cases:
        kw = {"content": body} if isinstance(body, bytes) else ({"json": body} if body is not None else {})
        r = await client.request(
            method, path, headers={**a["headers"], **key(), "Content-Type": "application/json"}, **kw
        )
        assert r.status_code == status, (path, r.text)
        if code:
            assert r.json()["error"]["code"] == code, (path, r.text)
    gql = (
        await client.post(
            "/graphql",
            json={"query": SEND_TIP, "variables": {"input": {"toUserId": b["user"]["id"], "amount": "10"}}},
            headers={**a["headers"], **key()},
        )
    ).json()
    assert gql.get("data") is None and gql["errors"]  # "10" is not MinorUnits


async def test_an_admin_never_adjusts_their_own_wallet_and_every_adjustment_is_audited(client, svc, db):
    admin, other_admin, user = await register(client), await register(client), await register(client)
    for a in (admin, other_admin):
        await make_admin(svc, a["user"]["id"])
    own = f"/wallets/{admin['user']['id']}/transactions"
    r = await client.post(
        own, json={"type": "adjustment", "amount": 1_000_000, "reason": "bonus"}, headers={**admin["headers"], **key()}
    )
    assert (r.status_code, r.json()["error"]["code"]) == (403, "own_wallet"), r.text
    mutation = """mutation($u: ID!) { adjustWallet(userId: $u, input: {amount: 1000000, reason: "bonus"}) { id } }"""
    got = await gql(client, admin, mutation, {"u": admin["user"]["id"]}, headers=key())
    assert got["errors"][0]["extensions"]["code"] == "own_wallet" and got["errors"][0]["extensions"]["status"] == 403
    assert (await wallet(client, admin))["balance"] == 0
    # another admin may, and each adjustment (REST or GraphQL) leaves an audit row in its transaction
    r = await client.post(
        own, json={"type": "adjustment", "amount": 500, "reason": "refund"}, headers={**other_admin["headers"], **key()}
    )
    assert r.status_code == 201, r.text
    got = await gql(client, other_admin, mutation.replace("1000000", "700"), {"u": user["user"]["id"]}, headers=key())
    assert "errors" not in got, got
    rows = await db.fetch(
        "SELECT * FROM audit_log WHERE action = 'wallet.adjusted' AND actor_user_id = $1 ORDER BY id",
        uuid.UUID(other_admin["user"]["id"]),
    )
    assert [(r["subject"], orjson.loads(r["details"])["amount"]) for r in rows] == [
        (f"user:{admin['user']['id']}", 500),
        (f"user:{user['user']['id']}", 700),
    ]
    assert orjson.loads(rows[0]["details"])["transaction_id"] == r.json()["id"]
    assert orjson.loads(rows[1]["details"])["transaction_id"] == got["data"]["adjustWallet"]["id"]
