"""Creator metrics: the agent fed `wallet.movement` events directly (no broker), redelivered and
duplicated; then end to end, committed movements -> outbox -> broker -> agent -> GET metrics."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid4

from models.core.events import Event, Received, received
from models.core.topics import WALLET_MOVEMENTS
from models.wallet import ledger, subscriptions, tips
from models.wallet.ledger import movement_payload
from streams.agents.creator_metrics import creator_metrics
from tests.support.broker import collect
from tests.support.factories import register
from tests.support.waiting import wait_for
from tests.support.wallet import fund, key, tip


def envelope(tx: ledger.Posted) -> Received:
    """The message the outbox relays for a committed transaction."""
    return received(Event("wallet.movement", movement_payload(tx), actor=tx.actor_id, id=tx.id))


async def metrics_of(client, user: dict) -> dict:
    r = await client.get(f"/wallets/{user['user']['id']}/metrics", headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()


async def test_agent_without_a_broker_is_idempotent(client, svc):
    creator, fan = await register(client), await register(client)
    cid, fid = UUID(creator["user"]["id"]), UUID(fan["user"]["id"])
    await fund(svc, fid, 20_000)
    await subscriptions.set_plan(svc, actor_id=cid, creator_id=cid, price=3_000, period_days=30)
    tip1 = await tips.send_tip(svc, sender_id=fid, to_user_id=cid, amount=1_000, idempotency_key=uuid4().hex)
    tip2 = await tips.send_tip(svc, sender_id=fid, to_user_id=cid, amount=555, idempotency_key=uuid4().hex)
    sub = await subscriptions.subscribe(svc, subscriber_id=fid, creator_id=cid, idempotency_key=uuid4().hex)
    history = (await ledger.history(svc, fid))["items"]
    sub_tx = await ledger.get_transaction(
        svc, UUID(next(i["transaction_id"] for i in history if i["kind"] == "subscription"))
    )
    funding = await ledger.get_transaction(
        svc, UUID(next(i["transaction_id"] for i in history if i["kind"] == "adjustment"))
    )
    events = [envelope(t) for t in (tip1, tip2, sub_tx, funding)]
    await creator_metrics(events, svc)
    expected_totals = {
        "earnings": 900 + 500 + 2_700,
        "tips": 2,
        "tip_earnings": 1_400,
        "subscription_payments": 1,
        "subscription_earnings": 2_700,
        "new_subscribers": 1,
    }
    first = await metrics_of(client, creator)
    assert first["totals"] == expected_totals
    assert len(first["days"]) == 1 and first["days"][0]["tips"] == 2
    assert first["active_subscribers"] == 1
    await creator_metrics(events, svc)  # the whole batch redelivered
    await creator_metrics(events[:2] + events[:2], svc)  # duplicates within a batch
    assert (await metrics_of(client, creator))["totals"] == expected_totals
    # a renewal is a payment, not a new subscriber
    period_end = datetime.fromisoformat(sub["current_period_end"])
    assert await subscriptions.renew_one(svc, UUID(sub["id"]), period_end + timedelta(minutes=1)) == "renewed"
    renewed = [i for i in (await ledger.history(svc, fid))["items"] if i["kind"] == "subscription"][0]
    await creator_metrics([envelope(await ledger.get_transaction(svc, UUID(renewed["transaction_id"])))] * 2, svc)
    totals = (await metrics_of(client, creator))["totals"]
    assert (totals["subscription_payments"], totals["new_subscribers"]) == (2, 1)
    # only the creator (or an admin) reads them
    r = await client.get(f"/wallets/{creator['user']['id']}/metrics", headers=fan["headers"])
    assert r.status_code == 404


async def test_committed_tips_reach_the_metrics_through_the_broker(client, worker, svc, stack_env):
    creator, fan = await register(client), await register(client)
    await fund(svc, fan["user"]["id"], 1_500)
    ok = await tip(client, fan, creator, 1_000)
    refused = await tip(client, fan, creator, 1_000)  # rolled back: no event may leave
    assert ok.status_code == 201 and refused.status_code == 409

    async def tipped():
        m = await metrics_of(client, creator)
        return m if m["totals"]["tips"] >= 1 else None

    got = await wait_for(tipped, timeout=30, what="the tip in the creator's metrics")
    assert got["totals"] == {
        "earnings": 900,
        "tips": 1,
        "tip_earnings": 900,
        "subscription_payments": 0,
        "subscription_earnings": 0,
        "new_subscribers": 0,
    }
    tx_id = ok.json()["id"]
    events = await collect(
        stack_env["KAFKA_BOOTSTRAP"],
        WALLET_MOVEMENTS.name,
        lambda evs: any(e["payload"]["transaction_id"] == tx_id for e in evs),
        timeout=20.0,
    )
    mine = [e for e in events if e["payload"]["metadata"].get("from_user_id") == fan["user"]["id"]]
    assert [e["payload"]["transaction_id"] for e in mine] == [tx_id]  # the refused tip left nothing
    legs = mine[0]["payload"]["legs"]
    assert sum(leg["amount"] for leg in legs) == 0 and mine[0]["id"] == tx_id
    second = await tip(client, fan, creator, 500, headers=key())
    assert second.status_code == 201

    async def tipped_twice():
        m = await metrics_of(client, creator)
        return m if m["totals"]["tips"] == 2 else None

    assert (await wait_for(tipped_twice, timeout=30, what="the second tip"))["totals"]["earnings"] == 900 + 450
