"""The ledger's guarantees under load and against direct writes: balances never negative, every
transaction and the whole ledger sum to zero, balances equal their entries, history immutable."""

from __future__ import annotations

import asyncio
from collections import Counter
from uuid import UUID

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from models.core.events import new_id
from models.wallet import ledger
from tests.support.factories import register
from tests.support.wallet import fund, tip, wallet


@pytest_asyncio.fixture
async def patient(api):
    """A generous timeout (the machine is shared) and at most 64 requests in flight: the API's
    Redis pool refuses a 101st concurrent command (redis-py's default max_connections=100)."""
    async with httpx.AsyncClient(base_url=api, timeout=120, limits=httpx.Limits(max_connections=64)) as c:
        yield c


async def test_200_concurrent_tips_from_a_wallet_covering_100(client, patient, svc):
    sender = await register(client)
    creators = [await register(client) for _ in range(4)]
    await fund(svc, sender["user"]["id"], 100 * 1000)
    results = await asyncio.gather(*(tip(patient, sender, creators[i % 4], 1000) for i in range(200)))
    statuses = Counter(r.status_code for r in results)
    assert statuses == {201: 100, 409: 100}, statuses
    assert {r.json()["error"]["code"] for r in results if r.status_code == 409} == {"insufficient_funds"}
    assert len({r.json()["id"] for r in results if r.status_code == 201}) == 100
    assert (await wallet(client, sender))["balance"] == 0
    earned = sum([await ledger.balance(svc, UUID(c["user"]["id"])) for c in creators])
    assert earned == 100 * 900  # 10 % fee on each 1000
    check = await ledger.reconcile(svc)
    assert check["ok"], check
    assert set(check["sum_by_currency"].values()) == {0}


async def test_opposite_tips_at_once_do_not_deadlock(client, svc):
    a, b = await register(client), await register(client)
    await fund(svc, a["user"]["id"], 50 * 100)
    await fund(svc, b["user"]["id"], 50 * 100)
    results = await asyncio.gather(*(tip(client, *((a, b) if i % 2 else (b, a)), 100) for i in range(100)))
    assert Counter(r.status_code for r in results) == {201: 100}
    # each sent 50 x 100 and received 50 x 90
    assert (await wallet(client, a))["balance"] == (await wallet(client, b))["balance"] == 50 * 90
    assert (await ledger.reconcile(svc))["ok"]


async def test_entries_and_transactions_are_append_only(client, svc):
    a, b = await register(client), await register(client)
    await fund(svc, a["user"]["id"], 1000)
    tx_id = (await tip(client, a, b, 500)).json()["id"]
    for stmt in (
        "UPDATE wallet_entries SET amount = amount * 2 WHERE transaction_id = :tx",
        "DELETE FROM wallet_entries WHERE transaction_id = :tx",
        "UPDATE wallet_transactions SET kind = 'gift' WHERE id = :tx",
        "DELETE FROM wallet_transactions WHERE id = :tx",
        "TRUNCATE wallet_entries",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with svc.sessions() as s, s.begin():
                await s.execute(text(stmt), {"tx": UUID(tx_id)})
    entries = (await ledger.get_transaction(svc, UUID(tx_id))).legs
    assert sorted(leg.amount for leg in entries) == [-500, 50, 450]


async def _insert_raw(svc, amounts: list[int]) -> None:
    """A transaction written around the domain function, with the given entry amounts."""
    account = await ledger.system_account(svc, ledger.ADJUSTMENTS, "EGP")
    tx = new_id()
    async with svc.sessions() as s, s.begin():
        await s.execute(
            text(
                "INSERT INTO wallet_transactions (id, kind, currency, metadata, created_at) "
                "VALUES (:id, 'raw', 'EGP', '{}', now())"
            ),
            {"id": tx},
        )
        for amount in amounts:
            await s.execute(
                text(
                    "INSERT INTO wallet_entries (transaction_id, account_id, currency, amount) "
                    "VALUES (:tx, :acc, 'EGP', :amount)"
                ),
                {"tx": tx, "acc": account, "amount": amount},
            )


@pytest.mark.parametrize("amounts", [[100], [100, -99], [], [100, -100, 5]])
async def test_an_unbalanced_transaction_cannot_commit(svc, amounts):
    before = await ledger.reconcile(svc)
    with pytest.raises(IntegrityError, match="sum to zero|at least 2"):
        await _insert_raw(svc, amounts)
    after = await ledger.reconcile(svc)
    assert after["transactions"] == before["transactions"] and after["ok"]


async def test_a_balanced_raw_transaction_commits(svc):
    await _insert_raw(svc, [300, -300])  # the trigger refuses only what does not balance
    assert (await ledger.reconcile(svc))["ok"]


async def test_a_user_balance_cannot_go_negative_even_by_hand(client, svc):
    a = await register(client)
    await fund(svc, a["user"]["id"], 10)
    with pytest.raises(IntegrityError, match="balance_not_negative"):
        async with svc.sessions() as s, s.begin():
            await s.execute(
                text("UPDATE wallet_accounts SET balance = -1 WHERE user_id = :u"), {"u": UUID(a["user"]["id"])}
            )


async def test_reconcile_reports_a_balance_that_differs_from_its_entries(client, svc):
    a = await register(client)
    await fund(svc, a["user"]["id"], 700)
    uid = UUID(a["user"]["id"])
    async with svc.sessions() as s, s.begin():  # wallet_accounts is not append-only: a hand edit
        await s.execute(text("UPDATE wallet_accounts SET balance = balance + 1 WHERE user_id = :u"), {"u": uid})
    broken = await ledger.reconcile(svc)
    async with svc.sessions() as s, s.begin():
        await s.execute(text("UPDATE wallet_accounts SET balance = balance - 1 WHERE user_id = :u"), {"u": uid})
    assert not broken["ok"] and broken["balance_mismatches"] == [str(uid)]
    assert (await ledger.reconcile(svc))["ok"]


async def test_history_pages_newest_first_without_gaps(client, svc):
    a, b = await register(client), await register(client)
    await fund(svc, a["user"]["id"], 10_000)
    sent = [(await tip(client, a, b, 100 + i)).json()["id"] for i in range(7)]
    seen, cursor = [], None
    while True:
        r = await client.get(
            f"/wallets/{a['user']['id']}/transactions",
            params={"limit": 3, **({"cursor": cursor} if cursor else {})},
            headers=a["headers"],
        )
        assert r.status_code == 200, r.text
        page = r.json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [i["transaction_id"] for i in seen[:7]] == sent[::-1]
    assert [i["amount"] for i in seen[:7]] == [-(100 + i) for i in range(7)][::-1]
    assert seen[7]["kind"] == "adjustment" and seen[7]["amount"] == 10_000 and len(seen) == 8
