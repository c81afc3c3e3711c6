"""Vodafone Cash disbursement (cashout) adapter.

Vodafone Egypt does not publish its merchant / disbursement API; it is handed to contracted
merchants. EVERYTHING on the wire here is therefore an ASSUMPTION, shaped like common Egyptian
wallet disbursement APIs and kept in this one file so the real contract replaces it in one place:
- request: POST {VODAFONE_CASH_BASE_URL}/api/v1/disbursements, JSON {merchantId, requestId (our
  cashout id), msisdn (01XXXXXXXXX), amount ("12.34"), currency, timestamp (ISO 8601 UTC),
  signature}, signature = hex HMAC-SHA256(VODAFONE_CASH_SECRET,
  "merchantId|requestId|msisdn|amount|currency|timestamp"); 2xx {transactionId, status:
  "ACCEPTED"} or 4xx {status: "REJECTED", reason};
- status query (the reconcile job): GET {base}/api/v1/disbursements/{requestId}?merchantId&timestamp
  &signature, signature = hex HMAC-SHA256(secret, "merchantId|requestId|timestamp"); the answer has
  the callback's fields and signature (status also "PENDING");
- result callback: POST to /payments/vodafone-cash/notifications, JSON {requestId,
  transactionId, status: "SUCCESS" | "FAILED", amount, msisdn, timestamp, reason?, signature},
  signature = hex HMAC-SHA256(secret, "requestId|transactionId|status|amount|msisdn|timestamp").
What is not assumed: Vodafone Cash numbers are Egyptian mobile numbers with the 010 prefix.
"""

from __future__ import annotations

import hashlib
import hmac

from infra.payments.base import (
    InvalidSignature,
    Notification,
    ProviderNotConfigured,
    ProviderRejected,
    call,
    same,
    to_minor,
    two_decimals,
)
from models.core.base import utcnow
from models.core.errors import DomainError

DISBURSE_PATH = "/api/v1/disbursements"
OUTCOMES = {"SUCCESS": "done", "FAILED": "failed"}
CALLBACK_FIELDS = ("requestId", "transactionId", "status", "amount", "msisdn", "timestamp")


class VodafoneCash:
    name = "vodafone_cash"

    def __init__(self, settings):
        self.base_url = settings.vodafone_cash_base_url.rstrip("/")
        self.merchant_id, self.secret = settings.vodafone_cash_merchant_id, settings.vodafone_cash_secret
        self.timeout = settings.payments_timeout

    def ensure_configured(self) -> None:
        if not (self.base_url and self.merchant_id and self.secret):
            raise ProviderNotConfigured(
                "Vodafone Cash is not configured (VODAFONE_CASH_BASE_URL, "
                "VODAFONE_CASH_MERCHANT_ID, VODAFONE_CASH_SECRET)"
            )

    def sign(self, *parts: str) -> str:
        return hmac.new(self.secret.encode(), "|".join(parts).encode(), hashlib.sha256).hexdigest()

    async def payout(self, *, reference: str, destination: str, amount: int, currency: str) -> str:
        self.ensure_configured()
        price, ts = two_decimals(amount), utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "merchantId": self.merchant_id,
            "requestId": reference,
            "msisdn": destination,
            "amount": price,
            "currency": currency,
            "timestamp": ts,
            "signature": self.sign(self.merchant_id, reference, destination, price, currency, ts),
        }
        r, answer = await call(
            "Vodafone Cash", "POST", DISBURSE_PATH, base_url=self.base_url, timeout=self.timeout, json=body
        )
        if r.status_code >= 400 or answer.get("status") != "ACCEPTED":
            raise ProviderRejected(f"Vodafone Cash refused the disbursement: {answer.get('reason') or r.status_code}")
        return str(answer.get("transactionId") or "")

    async def payout_status(self, reference: str) -> Notification:
        self.ensure_configured()
        ts = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
        r, answer = await call(
            "Vodafone Cash",
            "GET",
            f"{DISBURSE_PATH}/{reference}",
            base_url=self.base_url,
            timeout=self.timeout,
            params={
                "merchantId": self.merchant_id,
                "timestamp": ts,
                "signature": self.sign(self.merchant_id, reference, ts),
            },
        )
        if r.status_code >= 400:
            raise ProviderRejected(f"Vodafone Cash has no such disbursement: {answer.get('reason') or r.status_code}")
        return self.verify_notification(answer)

    def verify_notification(self, body: dict) -> Notification:
        self.ensure_configured()
        if not isinstance(body, dict) or any(
            not isinstance(body.get(f), str) or not body.get(f) for f in CALLBACK_FIELDS + ("signature",)
        ):
            raise DomainError("not a Vodafone Cash callback: a required field is missing", code="bad_notification")
        expected = self.sign(*(body[f] for f in CALLBACK_FIELDS))
        if not same(body["signature"], expected):
            raise InvalidSignature("the callback signature does not verify")
        return Notification(
            reference=body["requestId"],
            provider_ref=body["transactionId"],
            outcome=OUTCOMES.get(body["status"].upper(), "pending"),
            amount=to_minor(body["amount"]),
            reason=body.get("reason") or None,
        )
