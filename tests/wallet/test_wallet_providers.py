"""Top-ups and cashouts against local HTTP stubs of FawryPay and Vodafone Cash.

The stubs check our requests' signatures the way the providers specify them; the tests play the
providers' callbacks, signed with an implementation of the documented formula written here
(independent of the adapter under test)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import itertools
import sys
from collections import Counter
from uuid import UUID

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from infra.payments import ProviderNotConfigured
from infra.services import Services
from infra.settings import get_settings
from models.core.errors import Forbidden
from models.wallet import cashout, ledger
from tests.support.factories import register
from tests.support.processes import REPO, start_api
from tests.support.waiting import wait_for
from tests.support.wallet import fund, key, verify_phone, wallet

FAWRY_CODE, FAWRY_KEY = "is0N+YQzlE4=", "fawry-secure-key-for-tests"
VF_MERCHANT, VF_SECRET = "M-1001", "vodafone-secret-for-tests"
REJECTED, DOWN = "01099999999", "01088888888"  # destinations the stubs refuse / fail on


def sha(*parts) -> str:
    return hashlib.sha256("".join(str(p) for p in parts).encode()).hexdigest()


class Providers:
    """FawryPay (charge, status V2, payout) and Vodafone Cash (disbursement) stubs."""

    def __init__(self):
        self.charges, self.payouts, self.disbursements = [], [], []
        self.orders: dict[str, dict] = {}  # merchantRefNumber -> status V2 fields (charges and payouts)
        self.vf: dict[str, dict] = {}  # requestId -> the disbursement's state
        self._refs = itertools.count(900_000_001)
        self.hold: asyncio.Event | None = None  # set: a charge waits for it (a slow Fawry)
        self.charge_down = 0  # the next N charges answer 503 (after Fawry recorded nothing)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/ECommerceWeb/Fawry/payments/charge", self.charge)
        app.router.add_get("/ECommerceWeb/Fawry/payments/status/v2", self.status)
        app.router.add_post("/ECommerceWeb/Fawry/payouts", self.payout)
        app.router.add_post("/api/v1/disbursements", self.disburse)
        app.router.add_get("/api/v1/disbursements/{request_id}", self.disbursement)
        return app

    async def charge(self, request):
        b = await request.json()
        expected = sha(
            b["merchantCode"],
            b["merchantRefNum"],
            b["customerProfileId"],
            b["paymentMethod"],
            f"{b['amount']:.2f}",
            FAWRY_KEY,
        )
        if b["merchantCode"] != FAWRY_CODE or b["signature"] != expected:
            return web.json_response(
                {"type": "ChargeResponse", "statusCode": 9946, "statusDescription": "Wrong Signature"}
            )
        if self.hold is not None:
            await self.hold.wait()
        if self.charge_down:
            self.charge_down -= 1
            return web.Response(status=503)
        self.charges.append(b)
        ref = str(next(self._refs))
        self.orders[b["merchantRefNum"]] = {
            "fawryRefNumber": ref,
            "merchantRefNumber": b["merchantRefNum"],
            "orderAmount": b["amount"],
            "paymentAmount": b["amount"],
            "orderStatus": "UNPAID",
            "paymentMethod": "PAYATFAWRY",
        }
        return web.json_response(
            {
                "type": "ChargeResponse",
                "referenceNumber": ref,
                "merchantRefNumber": b["merchantRefNum"],
                "orderAmount": b["amount"],
                "paymentAmount": b["amount"],
                "fawryFees": 0.0,
                "paymentMethod": "PAYATFAWRY",
                "orderStatus": "UNPAID",
                "statusCode": 200,
                "statusDescription": "Operation done successfully",
            }
        )

    async def status(self, request):
        q = request.query
        if q["signature"] != sha(q["merchantCode"], q["merchantRefNumber"], FAWRY_KEY):
            return web.json_response({"statusCode": 9946, "statusDescription": "Wrong Signature"})
        order = self.orders.get(q["merchantRefNumber"])
        if order is None:
            return web.json_response({"statusCode": 9938, "statusDescription": "payment not found"})
        return web.json_response(signed_fawry(**order))

    async def payout(self, request):
        b = await request.json()
        if b["signature"] != sha(b["merchantCode"], b["merchantRefNum"], b["receiverMobile"], b["amount"], FAWRY_KEY):
            return web.json_response({"statusCode": 9946, "statusDescription": "Wrong Signature"})
        if b["receiverMobile"] == DOWN:
            return web.Response(status=503)
        self.payouts.append(b)
        if b["receiverMobile"] == REJECTED:
            return web.json_response({"statusCode": 9954, "statusDescription": "Receiver has no Fawry wallet"})
        ref = str(next(self._refs))
        self.orders[b["merchantRefNum"]] = {
            "fawryRefNumber": ref,
            "merchantRefNumber": b["merchantRefNum"],
            "orderAmount": float(b["amount"]),
            "paymentAmount": float(b["amount"]),
            "orderStatus": "NEW",
            "paymentMethod": "PayoutWallet",
        }
        return web.json_response({"statusCode": 200, "referenceNumber": ref})

    async def disburse(self, request):
        b = await request.json()
        base = "|".join([b["merchantId"], b["requestId"], b["msisdn"], b["amount"], b["currency"], b["timestamp"]])
        if (
            b["merchantId"] != VF_MERCHANT
            or b["signature"] != hmac.new(VF_SECRET.encode(), base.encode(), hashlib.sha256).hexdigest()
        ):
            return web.json_response({"status": "REJECTED", "reason": "bad signature"}, status=401)
        if b["msisdn"] == DOWN:
            return web.Response(status=502)
        self.disbursements.append(b)
        if b["msisdn"] == REJECTED:
            return web.json_response({"status": "REJECTED", "reason": "not a Vodafone Cash wallet"}, status=400)
        tid = f"VF{next(self._refs)}"
        self.vf[b["requestId"]] = {
            "transactionId": tid,
            "status": "PENDING",
            "amount": b["amount"],
            "msisdn": b["msisdn"],
        }
        return web.json_response({"requestId": b["requestId"], "transactionId": tid, "status": "ACCEPTED"})

    async def disbursement(self, request):
        """The status query (assumed, as the adapter documents): signed like the callback."""
        rid, q = request.match_info["request_id"], request.query
        base = "|".join([q["merchantId"], rid, q["timestamp"]])
        if (
            q["merchantId"] != VF_MERCHANT
            or q["signature"] != hmac.new(VF_SECRET.encode(), base.encode(), hashlib.sha256).hexdigest()
        ):
            return web.json_response({"status": "REJECTED", "reason": "bad signature"}, status=401)
        d = self.vf.get(rid)
        if d is None:
            return web.json_response({"status": "REJECTED", "reason": "no such request"}, status=404)
        return web.json_response(signed_vodafone(rid, d["status"], d["amount"], d["msisdn"], tid=d["transactionId"]))


def signed_fawry(
    *,
    fawryRefNumber,
    merchantRefNumber,
    orderAmount,
    paymentAmount,
    orderStatus,
    paymentMethod,
    paymentRefrenceNumber=None,
    key_=FAWRY_KEY,
    **extra,
) -> dict:
    """A server notification V2 body, signed as FawryPay documents it."""
    body = {
        "requestId": "c72827d084ea4b88949d91dd2db4996e",
        "fawryRefNumber": fawryRefNumber,
        "merchantRefNumber": merchantRefNumber,
        "paymentAmount": paymentAmount,
        "orderAmount": orderAmount,
        "fawryFees": 0.0,
        "orderStatus": orderStatus,
        "paymentMethod": paymentMethod,
        **extra,
    }
    if paymentRefrenceNumber:
        body["paymentRefrenceNumber"] = paymentRefrenceNumber
    body["messageSignature"] = sha(
        fawryRefNumber,
        merchantRefNumber,
        f"{paymentAmount:.2f}",
        f"{orderAmount:.2f}",
        orderStatus,
        paymentMethod,
        paymentRefrenceNumber or "",
        key_,
    )
    return body


def signed_vodafone(
    request_id: str, status: str, amount: str, msisdn: str, secret: str = VF_SECRET, tid: str = "VF77"
) -> dict:
    body = {
        "requestId": request_id,
        "transactionId": tid,
        "status": status,
        "amount": amount,
        "msisdn": msisdn,
        "timestamp": "2026-01-01T10:00:00Z",
    }
    base = "|".join(body[f] for f in ("requestId", "transactionId", "status", "amount", "msisdn", "timestamp"))
    return {**body, "signature": hmac.new(secret.encode(), base.encode(), hashlib.sha256).hexdigest()}


@pytest_asyncio.fixture(scope="module")
async def stubs():
    providers = Providers()
    runner = web.AppRunner(providers.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    providers.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield providers
    await runner.cleanup()


@pytest.fixture(scope="module")
def provider_env(stubs) -> dict:
    return {
        "FAWRY_BASE_URL": stubs.url,
        "FAWRY_MERCHANT_CODE": FAWRY_CODE,
        "FAWRY_SECURITY_KEY": FAWRY_KEY,
        "VODAFONE_CASH_BASE_URL": stubs.url,
        "VODAFONE_CASH_MERCHANT_ID": VF_MERCHANT,
        "VODAFONE_CASH_SECRET": VF_SECRET,
        "PAYMENTS_TIMEOUT": "5",
        "CASHOUT_MIN_TRUST": "30",
    }  # a new phone-verified account scores 35


@pytest_asyncio.fixture(scope="module")
async def papi(stack_env, log_dir, provider_env):
    proc, base = start_api(stack_env, log_dir, **provider_env)
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        yield c
    proc.stop()


@pytest_asyncio.fixture(scope="module")
async def svc(stack_env, provider_env):
    s = await Services.start(get_settings(), relay=False)
    yield dataclasses.replace(
        s,
        settings=get_settings().model_copy(
            update={
                "fawry_base_url": provider_env["FAWRY_BASE_URL"],
                "fawry_merchant_code": FAWRY_CODE,
                "fawry_security_key": FAWRY_KEY,
                "cashout_min_trust": 30,
            }
        ),
    )
    await s.stop()


async def topup(papi, user, amount: int, headers: dict | None = None) -> httpx.Response:
    return await papi.post(
        f"/wallets/{user['user']['id']}/transactions",
        json={"type": "topup", "amount": amount},
        headers={**user["headers"], **(headers or key())},
    )


async def notify_fawry(papi, body: dict) -> httpx.Response:
    return await papi.post("/payments/fawry/notifications", json=body)


async def test_fawry_topup_is_credited_once_on_the_signed_notification(papi, stubs):
    user = await register(papi)
    r = await topup(papi, user, 15_050)
    assert r.status_code == 202, r.text
    t = r.json()
    assert t["status"] == "pending" and t["provider_reference"] and t["transaction_id"] is None
    charge = stubs.charges[-1]  # the stub verified its signature
    assert charge["merchantRefNum"] == UUID(t["id"]).hex and charge["paymentMethod"] == "PAYATFAWRY"
    assert charge["amount"] == 150.50 and charge["currencyCode"] == "EGP"
    assert (await wallet(papi, user))["balance"] == 0  # nothing before Fawry says PAID
    paid = signed_fawry(
        fawryRefNumber=t["provider_reference"],
        merchantRefNumber=charge["merchantRefNum"],
        orderAmount=150.5,
        paymentAmount=152.0,
        orderStatus="PAID",
        paymentMethod="PAYATFAWRY",
        paymentRefrenceNumber="24480",
    )
    first = await notify_fawry(papi, paid)
    assert first.status_code == 200 and first.json()["result"] == "applied", first.text
    replay = await notify_fawry(papi, paid)
    assert replay.status_code == 200 and replay.json()["result"] == "already_processed"
    assert (await wallet(papi, user))["balance"] == 15_050
    history = (await papi.get(f"/wallets/{user['user']['id']}/transactions", headers=user["headers"])).json()
    assert [(i["kind"], i["amount"]) for i in history["items"]] == [("topup", 15_050)]
    done = (await papi.get(f"/wallets/{user['user']['id']}/topups/{t['id']}", headers=user["headers"])).json()
    assert done["status"] == "paid" and done["transaction_id"] == history["items"][0]["transaction_id"]


async def test_forged_and_tampered_notifications_are_refused(papi, stubs, svc):
    user = await register(papi)
    t = (await topup(papi, user, 10_000)).json()
    ref = UUID(t["id"]).hex
    fields = dict(
        fawryRefNumber=t["provider_reference"],
        merchantRefNumber=ref,
        orderAmount=100.0,
        paymentAmount=100.0,
        orderStatus="PAID",
        paymentMethod="PAYATFAWRY",
    )
    forged = signed_fawry(**fields, key_="not-the-key")
    tampered = {**signed_fawry(**{**fields, "orderStatus": "UNPAID"}), "orderStatus": "PAID"}
    bigger = {**signed_fawry(**fields), "orderAmount": 1000.0, "paymentAmount": 1000.0}
    for body in (forged, tampered, bigger, {**signed_fawry(**fields), "messageSignature": ""}):
        r = await notify_fawry(papi, body)
        assert r.status_code in (400, 401), r.text
        assert r.json()["error"]["code"] in ("invalid_signature", "bad_notification")
    assert (await notify_fawry(papi, forged)).json()["error"]["code"] == "invalid_signature"
    unknown = await notify_fawry(papi, signed_fawry(**{**fields, "merchantRefNumber": "0" * 32}))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_reference"
    wrong_amount = await notify_fawry(papi, signed_fawry(**{**fields, "orderAmount": 99.99, "paymentAmount": 99.99}))
    assert wrong_amount.status_code == 400 and wrong_amount.json()["error"]["code"] == "amount_mismatch"
    not_json = await papi.post(
        "/payments/fawry/notifications", content=b"[1,2]", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    assert (await wallet(papi, user))["balance"] == 0
    expired = await notify_fawry(papi, signed_fawry(**{**fields, "orderStatus": "EXPIRED"}))
    assert expired.json()["result"] == "applied"
    failed_again = await notify_fawry(papi, signed_fawry(**{**fields, "orderStatus": "FAILED"}))
    assert failed_again.json()["result"] == "already_processed"
    assert (await wallet(papi, user))["balance"] == 0
    assert (await ledger.reconcile(svc))["ok"]  # a late PAID: test_a_late_paid_after_expired_is_credited_once


async def test_a_lost_notification_is_recovered_from_the_payment_status(papi, stubs):
    user = await register(papi)
    t = (await topup(papi, user, 20_000)).json()
    order = stubs.orders[UUID(t["id"]).hex]
    pending = (await papi.get(f"/wallets/{user['user']['id']}/topups/{t['id']}", headers=user["headers"])).json()
    assert pending["status"] == "pending"
    order["orderStatus"] = "PAID"  # paid at a Fawry point; the notification never reached us
    paid = (await papi.get(f"/wallets/{user['user']['id']}/topups/{t['id']}", headers=user["headers"])).json()
    assert paid["status"] == "paid"
    assert (await wallet(papi, user))["balance"] == 20_000


async def test_topup_idempotency(papi, stubs):
    user = await register(papi)
    h = key()
    before = len(stubs.charges)
    results = await asyncio.gather(*(topup(papi, user, 5_000, headers=h) for _ in range(5)))
    assert {r.status_code for r in results} == {202}
    assert len({r.json()["id"] for r in results}) == 1
    assert len(stubs.charges) == before + 1
    other = await topup(papi, user, 6_000, headers=h)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"


async def test_unconfigured_provider_is_503_not_500(client, svc):
    user = await register(client)
    r = await client.post(
        f"/wallets/{user['user']['id']}/transactions",
        json={"type": "topup", "amount": 1000},
        headers={**user["headers"], **key()},
    )  # the suite's API has no Fawry credentials
    assert r.status_code == 503 and r.json()["error"]["code"] == "provider_not_configured"
    bare = dataclasses.replace(svc, settings=get_settings())
    with pytest.raises(ProviderNotConfigured):
        await cashout.request_cashout(
            bare,
            actor_id=UUID(user["user"]["id"]),
            user_id=UUID(user["user"]["id"]),
            amount=6000,
            provider="vodafone_cash",
            destination="01012345678",
            idempotency_key="k",
        )


async def creator(papi, svc, amount: int = 2_000_000) -> dict:
    user = await register(papi)
    await verify_phone(svc, user["user"]["id"])
    await fund(svc, user["user"]["id"], amount)
    return user


async def request_cashout(
    papi, user, amount: int, provider: str, destination: str, headers: dict | None = None
) -> httpx.Response:
    return await papi.post(
        f"/wallets/{user['user']['id']}/transactions",
        json={"type": "cashout", "amount": amount, "provider": provider, "destination": destination},
        headers={**user["headers"], **(headers or key())},
    )


async def test_fawry_cashout_done_on_the_signed_notification(papi, stubs, svc):
    user = await creator(papi, svc, 100_000)
    r = await request_cashout(papi, user, 60_000, "fawry", "01112345678")
    assert r.status_code == 202, r.text
    c = r.json()
    assert c["status"] == "pending" and c["provider_reference"]
    sent = stubs.payouts[-1]
    assert sent["merchantRefNum"] == UUID(c["id"]).hex and sent["amount"] == "600.00"
    w = await wallet(papi, user)
    assert (w["balance"], w["pending_cashout"]) == (40_000, 60_000)
    done = signed_fawry(
        fawryRefNumber=c["provider_reference"],
        merchantRefNumber=sent["merchantRefNum"],
        orderAmount=600.0,
        paymentAmount=600.0,
        orderStatus="PAID",
        paymentMethod="PayoutWallet",
    )
    assert (await notify_fawry(papi, done)).json()["result"] == "applied"
    assert (await notify_fawry(papi, done)).json()["result"] == "already_processed"
    failed_late = signed_fawry(
        **{
            **{
                k: done[k]
                for k in ("fawryRefNumber", "merchantRefNumber", "orderAmount", "paymentAmount", "paymentMethod")
            },
            "orderStatus": "FAILED",
        }
    )
    assert (await notify_fawry(papi, failed_late)).json()["result"] == "already_processed"
    w = await wallet(papi, user)
    assert (w["balance"], w["pending_cashout"]) == (40_000, 0)
    got = (await papi.get(f"/wallets/{user['user']['id']}/cashouts/{c['id']}", headers=user["headers"])).json()
    assert got["status"] == "done" and got["settle_transaction_id"]
    assert (await ledger.reconcile(svc))["ok"]


async def test_vodafone_cash_failed_cashout_returns_the_funds_once(papi, stubs, svc):
    user = await creator(papi, svc, 100_000)
    c = (await request_cashout(papi, user, 70_000, "vodafone_cash", "01012345678")).json()
    sent = stubs.disbursements[-1]
    assert sent["requestId"] == UUID(c["id"]).hex and sent["amount"] == "700.00" and c["status"] == "pending"
    assert (await wallet(papi, user))["balance"] == 30_000
    forged = signed_vodafone(sent["requestId"], "FAILED", "700.00", "01012345678", secret="guess")
    r = await papi.post("/payments/vodafone-cash/notifications", json=forged)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_signature"
    failed = signed_vodafone(sent["requestId"], "FAILED", "700.00", "01012345678")
    for expected in ("applied", "already_processed", "already_processed"):
        r = await papi.post("/payments/vodafone-cash/notifications", json=failed)
        assert r.status_code == 200 and r.json()["result"] == expected
    late_success = signed_vodafone(sent["requestId"], "SUCCESS", "700.00", "01012345678")
    assert (await papi.post("/payments/vodafone-cash/notifications", json=late_success)).json()[
        "result"
    ] == "already_processed"
    w = await wallet(papi, user)
    assert (w["balance"], w["pending_cashout"]) == (100_000, 0)
    history = (await papi.get(f"/wallets/{user['user']['id']}/transactions", headers=user["headers"])).json()
    assert [(i["kind"], i["amount"]) for i in history["items"][:2]] == [
        ("cashout_return", 70_000),
        ("cashout_hold", -70_000),
    ]
    assert (await ledger.reconcile(svc))["ok"]


async def test_a_refused_payout_returns_the_funds_at_once(papi, stubs, svc):
    user = await creator(papi, svc, 100_000)
    for provider in ("fawry", "vodafone_cash"):
        c = (await request_cashout(papi, user, 50_000, provider, REJECTED)).json()
        assert c["status"] == "failed" and c["failure_reason"], c
    w = await wallet(papi, user)
    assert (w["balance"], w["pending_cashout"]) == (100_000, 0)


async def test_an_unanswered_payout_stays_pending_until_the_callback(papi, stubs, svc):
    user = await creator(papi, svc, 100_000)
    c = (await request_cashout(papi, user, 50_000, "vodafone_cash", DOWN)).json()
    assert c["status"] == "pending"  # outcome unknown: the funds stay held
    assert (await wallet(papi, user))["pending_cashout"] == 50_000
    ok = signed_vodafone(UUID(c["id"]).hex, "SUCCESS", "500.00", DOWN)
    assert (await papi.post("/payments/vodafone-cash/notifications", json=ok)).json()["result"] == "applied"
    w = await wallet(papi, user)
    assert (w["balance"], w["pending_cashout"]) == (50_000, 0)


async def test_cashout_limits(papi, svc):
    user = await creator(papi, svc, 2_000_000)
    low = await request_cashout(papi, user, 4_999, "fawry", "01112345678")
    assert low.status_code == 400 and low.json()["error"]["code"] == "cashout_below_minimum"
    # 10,000 EGP per 24 h, enforced under the wallet lock: 5 concurrent 3,000 EGP requests -> 3 pass
    results = await asyncio.gather(*(request_cashout(papi, user, 300_000, "fawry", "01112345678") for _ in range(5)))
    assert Counter(r.status_code for r in results) == {202: 3, 400: 2}, [r.text for r in results]
    assert {r.json()["error"]["code"] for r in results if r.status_code == 400} == {"cashout_daily_limit"}
    rest = await request_cashout(papi, user, 100_001, "fawry", "01112345678")
    assert rest.status_code == 400 and rest.json()["error"]["details"]["remaining"] == 100_000
    assert (await request_cashout(papi, user, 100_000, "fawry", "01112345678")).status_code == 202
    assert (await wallet(papi, user))["balance"] == 1_000_000
    bad = [("vodafone_cash", "01112345678"), ("fawry", "12345"), ("paypal", "01012345678")]
    for provider, destination in bad:
        r = await request_cashout(papi, user, 10_000, provider, destination)
        assert r.status_code in (400, 422), r.text
    poor = await creator(papi, svc, 5_000)
    broke = await request_cashout(papi, poor, 6_000, "fawry", "01112345678")
    assert broke.status_code == 409 and broke.json()["error"]["code"] == "insufficient_funds"


async def test_cashout_needs_a_verified_identity(papi, svc):
    unverified = await register(papi)
    await fund(svc, unverified["user"]["id"], 100_000)
    r = await request_cashout(papi, unverified, 10_000, "fawry", "01112345678")
    assert r.status_code == 403 and r.json()["error"]["code"] == "phone_not_verified"
    verified = await creator(papi, svc, 100_000)
    strict = dataclasses.replace(svc, settings=svc.settings.model_copy(update={"cashout_min_trust": 90}))
    uid = UUID(verified["user"]["id"])
    with pytest.raises(Forbidden) as refused:
        await cashout.request_cashout(
            strict,
            actor_id=uid,
            user_id=uid,
            amount=10_000,
            provider="fawry",
            destination="01112345678",
            idempotency_key="trust",
        )
    assert refused.value.code == "trust_too_low"
    assert (await wallet(papi, unverified))["balance"] == (await wallet(papi, verified))["balance"] == 100_000


async def session_id(papi, user) -> str:
    page = (await papi.get("/auth/sessions", headers=user["headers"])).json()
    return next(s["id"] for s in page["items"] if s["current"])


async def test_a_cashout_to_a_new_destination_needs_a_fresh_proof(papi, stubs, svc, redis):
    user = await creator(papi, svc, 500_000)
    sid = await session_id(papi, user)
    assert 0 < await redis.ttl(f"proof:{sid}") <= 300  # the login proved the session, for 5 minutes
    assert (await request_cashout(papi, user, 10_000, "fawry", "01112345678")).status_code == 202
    await redis.delete(f"proof:{sid}")  # five minutes later
    # a destination already paid to: no proof needed
    assert (await request_cashout(papi, user, 10_000, "fawry", "01112345678")).status_code == 202
    # a new one (REST and GraphQL): 403, nothing held
    r = await request_cashout(papi, user, 10_000, "fawry", "01198765432")
    assert (r.status_code, r.json()["error"]["code"]) == (403, "fresh_proof_required"), r.text
    q = """mutation($u: ID!) { requestCashout(userId: $u, input: {amount: 10000, provider: "vodafone_cash",
           destination: "01098765432"}) { id status } }"""
    got = (
        await papi.post(
            "/graphql", json={"query": q, "variables": {"u": user["user"]["id"]}}, headers={**user["headers"], **key()}
        )
    ).json()
    assert got["errors"][0]["extensions"]["code"] == "fresh_proof_required"
    assert (await wallet(papi, user))["balance"] == 480_000
    # a refreshed token is no proof
    refreshed = (await papi.post("/auth/refresh", json={"refresh_token": user["refresh_token"]})).json()
    fresh_headers = {"Authorization": f"Bearer {refreshed['access_token']}"}
    r = await request_cashout(papi, {**user, "headers": fresh_headers}, 10_000, "fawry", "01198765432")
    assert r.json()["error"]["code"] == "fresh_proof_required"
    # the password again proves it: a wrong one does not
    r = await papi.post("/auth/reauth", json={"password": "wrong password"}, headers=fresh_headers)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_credentials")
    r = await papi.post("/auth/reauth", json={"password": user["password"]}, headers=fresh_headers)
    assert r.status_code == 200 and r.json()["fresh_until"] > 0
    r = await request_cashout(papi, {**user, "headers": fresh_headers}, 10_000, "fawry", "01198765432")
    assert r.status_code == 202, r.text
    # GraphQL: reauth, then the new Vodafone Cash destination
    await redis.delete(f"proof:{sid}")
    reauth = f'mutation {{ reauth(password: "{user["password"]}") {{ freshUntil }} }}'
    assert (await papi.post("/graphql", json={"query": reauth}, headers=fresh_headers)).json()["data"]["reauth"]
    got = (
        await papi.post(
            "/graphql", json={"query": q, "variables": {"u": user["user"]["id"]}}, headers={**fresh_headers, **key()}
        )
    ).json()
    assert got["data"]["requestCashout"]["status"] == "pending", got


async def test_a_topup_is_committed_pending_before_fawry_is_called(papi, stubs, db):
    """No transaction is held open across Fawry's HTTP call: while Fawry takes its time, the
    top-up is already visible, pending, to any other connection."""
    user = await register(papi)
    stubs.hold = asyncio.Event()
    try:
        call = asyncio.create_task(topup(papi, user, 7_000))
        row = await wait_for(
            lambda: db.fetchrow("SELECT * FROM wallet_topups WHERE user_id = $1", UUID(user["user"]["id"])),
            timeout=15,
            what="the pending top-up committed",
        )
        assert row["status"] == "pending" and row["provider_ref"] is None and not call.done()
    finally:
        stubs.hold.set()
        stubs.hold = None
    r = await call
    assert r.status_code == 202 and r.json()["provider_reference"] and r.json()["id"] == str(row["id"])


async def test_an_unanswered_charge_is_called_again_by_a_retry_with_the_same_key(papi, stubs):
    user, h = await register(papi), key()
    stubs.charge_down = 1
    r = await topup(papi, user, 8_000, headers=h)
    assert (r.status_code, r.json()["error"]["code"]) == (503, "provider_unavailable")
    before = len(stubs.charges)
    again = await topup(papi, user, 8_000, headers=h)
    assert again.status_code == 202 and again.json()["provider_reference"], again.text
    assert len(stubs.charges) == before + 1 and stubs.charges[-1]["merchantRefNum"] == UUID(again.json()["id"]).hex
    assert (await topup(papi, user, 8_000, headers=h)).json() == again.json()  # charged: never again


async def test_a_late_paid_after_expired_is_credited_once(papi, stubs):
    user = await register(papi)
    t = (await topup(papi, user, 9_000)).json()
    order = stubs.orders[UUID(t["id"]).hex]
    expired = signed_fawry(**{**order, "orderStatus": "EXPIRED"})
    assert (await notify_fawry(papi, expired)).json()["result"] == "applied"
    url = f"/wallets/{user['user']['id']}/topups/{t['id']}"
    assert (await papi.get(url, headers=user["headers"])).json()["status"] == "failed"
    paid = signed_fawry(**{**order, "orderStatus": "PAID"})  # collected at a Fawry point, reported late
    assert (await notify_fawry(papi, paid)).json()["result"] == "applied"
    assert (await notify_fawry(papi, paid)).json()["result"] == "already_processed"
    assert (await notify_fawry(papi, expired)).json()["result"] == "already_processed"
    assert (await papi.get(url, headers=user["headers"])).json()["status"] == "paid"
    assert (await wallet(papi, user))["balance"] == 9_000


async def run_reconcile(stack_env, provider_env) -> str:
    """The job as `make reconcile-payments` runs it; asynchronously: the stubs answer from this loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "jobs.reconcile_payments",
        "--older-than",
        "0s",
        env={**stack_env, **provider_env},
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_reconcile_payments_settles_what_callbacks_left_pending(papi, stubs, svc, stack_env, provider_env, db):
    payer, earner = await register(papi), await creator(papi, svc, 100_000)
    t = (await topup(papi, payer, 12_000)).json()
    unreached_key = key()
    stubs.charge_down = 1  # a top-up whose charge never reached Fawry
    assert (await topup(papi, payer, 3_000, headers=unreached_key)).status_code == 503
    fc = (await request_cashout(papi, earner, 20_000, "fawry", "01112345678")).json()
    vc = (await request_cashout(papi, earner, 30_000, "vodafone_cash", "01012345678")).json()
    assert fc["status"] == vc["status"] == "pending"
    # the providers finished; every callback was lost
    stubs.orders[UUID(t["id"]).hex]["orderStatus"] = "PAID"
    stubs.orders[UUID(fc["id"]).hex]["orderStatus"] = "PAID"
    stubs.vf[UUID(vc["id"]).hex]["status"] = "FAILED"
    out = await run_reconcile(stack_env, provider_env)
    assert "top-up(s)" in out and "cashout(s) settled" in out, out  # counts include other tests' leftovers
    assert (await wallet(papi, payer))["balance"] == 12_000
    w = await wallet(papi, earner)
    assert (w["balance"], w["pending_cashout"]) == (100_000 - 20_000, 0)
    statuses = {
        r["id"]: r["status"]
        for r in await db.fetch(
            "SELECT id::text, status FROM wallet_topups WHERE user_id = $1", UUID(payer["user"]["id"])
        )
    }
    assert statuses[t["id"]] == "paid" and sorted(statuses.values()) == ["failed", "paid"]
    got = (await papi.get(f"/wallets/{earner['user']['id']}/cashouts/{vc['id']}", headers=earner["headers"])).json()
    assert got["status"] == "failed"
    # a second run and the late callbacks change nothing
    await run_reconcile(stack_env, provider_env)
    paid = signed_fawry(**stubs.orders[UUID(t["id"]).hex])
    assert (await notify_fawry(papi, paid)).json()["result"] == "already_processed"
    assert (await wallet(papi, payer))["balance"] == 12_000
    assert (await wallet(papi, earner))["balance"] == 80_000
    assert (await ledger.reconcile(svc))["ok"]
