"""FawryPay adapter (https://developer.fawrystaging.com).

Follows FawryPay's published server APIs:
- charge, "Pay at Fawry" reference number: POST /ECommerceWeb/Fawry/payments/charge,
  signature = SHA-256(merchantCode + merchantRefNum + customerProfileId + paymentMethod
  + amount with two decimals + secureKey);
- payment status V2: GET /ECommerceWeb/Fawry/payments/status/v2?merchantCode&merchantRefNumber
  &signature, signature = SHA-256(merchantCode + merchantRefNumber + secureKey);
- server notification V2 (POST to our callback URL) and the status V2 answer, verified with
  messageSignature = SHA-256(fawryRefNumber + merchantRefNumber + paymentAmount (2 decimals)
  + orderAmount (2 decimals) + orderStatus + paymentMethod + paymentRefrenceNumber (empty when
  absent; Fawry's spelling) + secureKey).
ASSUMED (FawryPay publishes no payout API): the cashout request path PAYOUT_PATH, its fields and
its signature (the same concatenation convention), and that its outcome arrives as a server
notification V2 for our merchantRefNumber (PAID = done; FAILED, CANCELED, EXPIRED = failed).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from infra.payments.base import (
    InvalidSignature,
    Notification,
    ProviderNotConfigured,
    ProviderRejected,
    call,
    same,
    sha256_hex,
    to_minor,
    two_decimals,
)
from models.core.errors import DomainError

CHARGE_PATH = "/ECommerceWeb/Fawry/payments/charge"
STATUS_PATH = "/ECommerceWeb/Fawry/payments/status/v2"
PAYOUT_PATH = "/ECommerceWeb/Fawry/payouts"  # assumed, see the module docstring
PAY_AT_FAWRY = "PAYATFAWRY"
OUTCOMES = {
    "PAID": "paid",
    "FAILED": "failed",
    "CANCELED": "failed",
    "CANCELLED": "failed",
    "EXPIRED": "failed",
    "NEW": "pending",
    "UNPAID": "pending",
}
NOTIFICATION_FIELDS = (
    "fawryRefNumber",
    "merchantRefNumber",
    "paymentAmount",
    "orderAmount",
    "orderStatus",
    "paymentMethod",
    "messageSignature",
)


def _amount_text(value) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


class Fawry:
    name = "fawry"

    def __init__(self, settings):
        self.base_url = settings.fawry_base_url.rstrip("/")
        self.merchant_code, self.key = settings.fawry_merchant_code, settings.fawry_security_key
        self.timeout = settings.payments_timeout

    def ensure_configured(self) -> None:
        if not (self.merchant_code and self.key and self.base_url):
            raise ProviderNotConfigured("Fawry is not configured (FAWRY_MERCHANT_CODE, FAWRY_SECURITY_KEY)")

    def sign(self, *parts: str) -> str:
        return sha256_hex(*parts, self.key)

    async def _call(self, method: str, path: str, **kw) -> dict:
        self.ensure_configured()
        r, body = await call("Fawry", method, path, base_url=self.base_url, timeout=self.timeout, **kw)
        code = body.get("statusCode", r.status_code) if isinstance(body, dict) else r.status_code
        if r.status_code >= 400 or code != 200:
            detail = body.get("statusDescription") if isinstance(body, dict) else None
            raise ProviderRejected(f"Fawry refused the request: {code} {detail or ''}".strip())
        return body

    async def charge(
        self,
        *,
        reference: str,
        customer_profile_id: str,
        amount: int,
        currency: str,
        description: str,
        expires_at: datetime,
        email: str | None = None,
        mobile: str | None = None,
    ) -> dict:
        """A Pay-at-Fawry reference number the customer pays at any Fawry point or app."""
        self.ensure_configured()
        price = two_decimals(amount)
        body = {
            "merchantCode": self.merchant_code,
            "merchantRefNum": reference,
            "customerProfileId": customer_profile_id,
            "paymentMethod": PAY_AT_FAWRY,
            "amount": float(price),
            "currencyCode": currency,
            "description": description,
            "paymentExpiry": int(expires_at.timestamp() * 1000),
            "chargeItems": [
                {"itemId": "wallet-topup", "description": description, "price": float(price), "quantity": 1}
            ],
            "signature": self.sign(self.merchant_code, reference, customer_profile_id, PAY_AT_FAWRY, price),
        }
        if email:
            body["customerEmail"] = email
        if mobile:
            body["customerMobile"] = mobile
        answer = await self._call("POST", CHARGE_PATH, json=body)
        if not answer.get("referenceNumber"):
            raise ProviderRejected("Fawry answered without a reference number")
        return {"reference_number": str(answer["referenceNumber"]), "order_status": answer.get("orderStatus")}

    async def payment_status(self, reference: str) -> Notification:
        answer = await self._call(
            "GET",
            STATUS_PATH,
            params={
                "merchantCode": self.merchant_code,
                "merchantRefNumber": reference,
                "signature": self.sign(self.merchant_code, reference),
            },
        )
        return self.verify_notification(answer)

    async def payout(self, *, reference: str, destination: str, amount: int, currency: str) -> str:
        price = two_decimals(amount)
        answer = await self._call(
            "POST",
            PAYOUT_PATH,
            json={
                "merchantCode": self.merchant_code,
                "merchantRefNum": reference,
                "receiverMobile": destination,
                "amount": price,
                "currencyCode": currency,
                "signature": self.sign(self.merchant_code, reference, destination, price),
            },
        )
        return str(answer.get("referenceNumber") or "")

    async def payout_status(self, reference: str) -> Notification:
        """ASSUMED, like the payout: Fawry answers the status V2 query for a payout's merchantRefNumber."""
        return await self.payment_status(reference)

    def notification_signature(self, body: dict) -> str:
        return self.sign(
            str(body["fawryRefNumber"]),
            str(body["merchantRefNumber"]),
            _amount_text(body["paymentAmount"]),
            _amount_text(body["orderAmount"]),
            str(body["orderStatus"]),
            str(body["paymentMethod"]),
            str(body.get("paymentRefrenceNumber") or ""),
        )

    def verify_notification(self, body: dict) -> Notification:
        self.ensure_configured()
        if not isinstance(body, dict) or any(body.get(f) in (None, "") for f in NOTIFICATION_FIELDS):
            raise DomainError("not a FawryPay notification: a required field is missing", code="bad_notification")
        try:
            expected = self.notification_signature(body)
        except ArithmeticError:
            raise DomainError("an amount is not a number", code="bad_notification") from None
        if not same(body["messageSignature"], expected):
            raise InvalidSignature("the notification's messageSignature does not verify")
        return Notification(
            reference=str(body["merchantRefNumber"]),
            provider_ref=str(body["fawryRefNumber"]),
            outcome=OUTCOMES.get(str(body["orderStatus"]).upper(), "pending"),
            amount=to_minor(body["orderAmount"]),
            reason=body.get("failureReason") or None,
        )
