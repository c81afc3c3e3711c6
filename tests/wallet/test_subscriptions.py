"""Creator subscriptions: plans, subscribe / cancel, subscriber-only posts in every read path
(REST and GraphQL), the renewal job with its grace period and lapse."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta
from uuid import UUID

from sqlalchemy import text

from models.wallet import ledger, subscriptions
from models.wallet.tables import Subscription
from tests.support.factories import register
from tests.support.processes import REPO
from tests.support.wallet import fund, key, wallet

PRICE, DAYS = 2_000, 30


async def creator_with_plan(client) -> tuple[dict, str]:
    """A creator with a plan and one subscriber-only post."""
    creator = await register(client)
    r = await client.put(
        f"/creators/{creator['user']['id']}/subscription-plan",
        json={"price": PRICE, "period_days": DAYS},
        headers=creator["headers"],
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        "/posts", json={"caption": "for subscribers", "visibility": "subscribers"}, headers=creator["headers"]
    )
    assert r.status_code == 201, r.text
    return creator, r.json()["id"]


async def subscribe(client, fan, creator, headers: dict | None = None):
    return await client.post(
        f"/creators/{creator['user']['id']}/subscriptions", headers={**fan["headers"], **(headers or key())}
    )


async def sees(client, user, post_id: str) -> bool:
    """Whether `user` can read the post through REST and GraphQL (both must agree)."""
    rest = await client.get(f"/posts/{post_id}", headers=user["headers"])
    assert rest.status_code in (200, 404), rest.text
    gql = (
        await client.post(
            "/graphql",
            json={"query": "query($id: ID!) { post(id: $id) { id visibility } }", "variables": {"id": post_id}},
            headers=user["headers"],
        )
    ).json()
    via_gql = bool(gql.get("data") and gql["data"]["post"])
    if not via_gql:
        assert gql["errors"][0]["extensions"]["code"] == "post_not_found"
    assert (rest.status_code == 200) == via_gql
    return via_gql


async def sub_row(svc, sub_id: str) -> Subscription:
    async with svc.sessions() as s:
        return await s.get(Subscription, UUID(sub_id))


async def test_subscribe_opens_subscriber_posts_to_subscribers_only(client, svc):
    creator, post_id = await creator_with_plan(client)
    fan, stranger = await register(client), await register(client)
    await fund(svc, fan["user"]["id"], 5_000)
    assert await sees(client, creator, post_id)
    assert not await sees(client, fan, post_id)
    h = key()
    r = await subscribe(client, fan, creator, headers=h)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["status"] == "active" and sub["has_access"] and sub["price"] == PRICE
    assert await sees(client, fan, post_id)
    assert not await sees(client, stranger, post_id)
    again = await subscribe(client, fan, creator, headers=h)
    assert again.status_code == 201 and again.json()["id"] == sub["id"]
    twice = await subscribe(client, fan, creator)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_subscribed"
    assert (await wallet(client, fan))["balance"] == 3_000
    assert (await wallet(client, creator))["balance"] == 1_800
    listed = (await client.get(f"/wallets/{fan['user']['id']}/subscriptions", headers=fan["headers"])).json()
    assert [s["creator_id"] for s in listed["items"]] == [creator["user"]["id"]]
    gql = (
        await client.post(
            "/graphql",
            json={"query": "{ mySubscriptions { creatorId status hasAccess price } }"},
            headers=fan["headers"],
        )
    ).json()
    assert gql["data"]["mySubscriptions"] == [
        {"creatorId": creator["user"]["id"], "status": "active", "hasAccess": True, "price": PRICE}
    ]


async def test_subscription_rules(client, svc):
    creator, _ = await creator_with_plan(client)
    no_plan, fan = await register(client), await register(client)
    assert (await client.post(f"/creators/{creator['user']['id']}/subscriptions", headers=fan["headers"])).json()[
        "error"
    ]["code"] == "idempotency_key_required"
    r = await subscribe(client, creator, creator)
    assert r.status_code == 400 and r.json()["error"]["code"] == "cannot_subscribe_self"
    r = await subscribe(client, fan, no_plan)
    assert r.status_code == 404 and r.json()["error"]["code"] == "plan_not_found"
    r = await subscribe(client, fan, creator)
    assert r.status_code == 409 and r.json()["error"]["code"] == "insufficient_funds"
    r = await client.put(
        f"/creators/{creator['user']['id']}/subscription-plan", json={"price": 1}, headers=fan["headers"]
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_owner"
    assert (
        await client.get(f"/creators/{no_plan['user']['id']}/subscription-plan", headers=fan["headers"])
    ).status_code == 404
    assert (
        await client.delete(f"/creators/{creator['user']['id']}/subscriptions", headers=fan["headers"])
    ).status_code == 404


async def test_renewal_charges_each_period_once(client, svc):
    creator, post_id = await creator_with_plan(client)
    fan = await register(client)
    await fund(svc, fan["user"]["id"], 3 * PRICE)
    sub = (await subscribe(client, fan, creator)).json()
    end = (await sub_row(svc, sub["id"])).current_period_end
    assert await subscriptions.renew_one(svc, UUID(sub["id"]), end - timedelta(seconds=1)) == "skipped"
    # two job runs at once, then a later run at the same instant: one charge for the period
    results = await asyncio.gather(
        *(subscriptions.renew_one(svc, UUID(sub["id"]), end + timedelta(minutes=1)) for _ in range(2))
    )
    assert sorted(results) == ["renewed", "skipped"]
    assert await subscriptions.renew_one(svc, UUID(sub["id"]), end + timedelta(minutes=1)) == "skipped"
    row = await sub_row(svc, sub["id"])
    assert row.current_period_start == end and row.current_period_end == end + timedelta(days=DAYS)
    assert (await wallet(client, fan))["balance"] == PRICE
    history = (await client.get(f"/wallets/{fan['user']['id']}/transactions", headers=fan["headers"])).json()
    charges = [i for i in history["items"] if i["kind"] == "subscription"]
    assert [c["metadata"]["first"] for c in charges] == [False, True]
    assert charges[0]["metadata"]["period_start"] == end.isoformat()
    assert await sees(client, fan, post_id)
    assert (await ledger.reconcile(svc))["ok"]


async def test_failed_renewal_goes_to_grace_then_lapses(client, svc):
    creator, post_id = await creator_with_plan(client)
    fan, saved = await register(client), await register(client)
    for u in (fan, saved):
        await fund(svc, u["user"]["id"], PRICE)  # the first period only
    subs = [(await subscribe(client, u, creator)).json() for u in (fan, saved)]
    end = (await sub_row(svc, subs[0]["id"])).current_period_end
    grace = svc.settings.subscription_grace
    for s in subs:
        assert await subscriptions.renew_one(svc, UUID(s["id"]), end + timedelta(minutes=1)) == "grace"
    row = await sub_row(svc, subs[0]["id"])
    assert row.status == "grace" and row.grace_until == end + grace
    assert await sees(client, fan, post_id)  # access is kept during the grace period
    assert await subscriptions.renew_one(svc, UUID(subs[0]["id"]), end + grace / 2) == "grace"
    # one tops up during the grace period: the next run renews from the old period end
    await fund(svc, saved["user"]["id"], PRICE)
    assert await subscriptions.renew_one(svc, UUID(subs[1]["id"]), end + grace / 2) == "renewed"
    row = await sub_row(svc, subs[1]["id"])
    assert row.status == "active" and row.current_period_end == row.current_period_start + timedelta(days=DAYS)
    assert end <= row.current_period_start < end + timedelta(minutes=1)  # from the old period end, not from now
    # the other does not: when the grace ends it lapses, and the posts close
    assert await subscriptions.renew_one(svc, UUID(subs[0]["id"]), end + grace) == "lapsed"
    assert (await sub_row(svc, subs[0]["id"])).status == "lapsed"
    assert not await sees(client, fan, post_id)
    assert await sees(client, saved, post_id)
    assert (await wallet(client, fan))["balance"] == 0
    # a lapsed subscriber may subscribe again (charged a fresh first period)
    await fund(svc, fan["user"]["id"], PRICE)
    again = await subscribe(client, fan, creator)
    assert again.status_code == 201 and again.json()["status"] == "active" and again.json()["id"] == subs[0]["id"]
    assert await sees(client, fan, post_id)


async def test_cancel_keeps_access_until_the_period_ends(client, svc):
    creator, post_id = await creator_with_plan(client)
    fan = await register(client)
    await fund(svc, fan["user"]["id"], 2 * PRICE)
    sub = (await subscribe(client, fan, creator)).json()
    r = await client.delete(f"/creators/{creator['user']['id']}/subscriptions", headers=fan["headers"])
    assert r.status_code == 200 and r.json()["cancel_at_period_end"] and r.json()["has_access"]
    assert await sees(client, fan, post_id)
    end = (await sub_row(svc, sub["id"])).current_period_end
    assert await subscriptions.renew_one(svc, UUID(sub["id"]), end + timedelta(seconds=1)) == "ended"
    assert (await sub_row(svc, sub["id"])).status == "canceled"
    assert not await sees(client, fan, post_id)
    assert (await wallet(client, fan))["balance"] == PRICE  # nothing charged after cancelling


async def test_the_renewal_job_command(client, svc, stack_env):
    creator, _ = await creator_with_plan(client)
    fan = await register(client)
    await fund(svc, fan["user"]["id"], 2 * PRICE)
    sub = (await subscribe(client, fan, creator)).json()
    async with svc.sessions() as s, s.begin():  # the period ended an hour ago
        await s.execute(
            text("UPDATE subscriptions SET current_period_end = now() - interval '1 hour' WHERE id = :id"),
            {"id": UUID(sub["id"])},
        )
    out = subprocess.run(
        [sys.executable, "-m", "jobs.renew_subscriptions"],
        env=stack_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "'renewed': 1," in out.stdout, out.stdout
    assert (await sub_row(svc, sub["id"])).status == "active"
    assert (await wallet(client, fan))["balance"] == 0
    again = subprocess.run(
        [sys.executable, "-m", "jobs.renew_subscriptions"],
        env=stack_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and (await wallet(client, fan))["balance"] == 0
