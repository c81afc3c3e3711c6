"""Sinch Verification API, flash-call method.

Start: POST {SINCH_VERIFICATION_BASE}/verification/v1/verifications
`{"identity": {"type": "number", "endpoint": "+E164"}, "method": "flashCall"}` -> `{"id", "method",
"flashCall": {"cliFilter", "interceptionTimeout", ...}}`. Sinch then places a missed call; the
calling number (CLI) is the secret. Verify: PUT .../verifications/number/{+E164}
`{"method": "flashCall", "flashCall": {"cli": "+..."}}` -> `{"id", "method", "status": SUCCESSFUL |
FAIL | DENIED | ABORTED | ERROR | PENDING, "reason"?}`. Sinch holds the CLI, so Sinch decides: this
server never learns the number it called from. Errors: `{"errorCode", "message", "reference"}`.

Authentication with the application key and secret, as Sinch documents: the "Application signed
request" (SINCH_AUTH=signed, default: HMAC-SHA256 over method, body MD5, content type, x-timestamp
and path, keyed with the base64-decoded secret; the secret never travels), or Basic
(SINCH_AUTH=basic: key:secret, fine server to server over TLS).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

from infra.providers.base import FlashCallStarted, ProviderError, call
from infra.settings import Settings

CONTENT_TYPE = "application/json; charset=UTF-8"


def signed_headers(key: str, secret: str, method: str, path: str, body: bytes, timestamp: str) -> dict:
    """Sinch's application signed request (also used by the test stub to check ours)."""
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode() if body else ""
    to_sign = "\n".join([method, md5, CONTENT_TYPE, f"x-timestamp:{timestamp}", path])
    signature = base64.b64encode(hmac.new(base64.b64decode(secret), to_sign.encode(), hashlib.sha256).digest())
    return {
        "Authorization": f"Application {key}:{signature.decode()}",
        "x-timestamp": timestamp,
        "Content-Type": CONTENT_TYPE,
    }


class SinchFlashCall:
    name = "sinch"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.base = settings.sinch_verification_base.rstrip("/")

    def _headers(self, method: str, path: str, body: bytes) -> dict:
        cfg = self.settings
        if cfg.sinch_auth == "basic":
            token = base64.b64encode(f"{cfg.sinch_application_key}:{cfg.sinch_application_secret}".encode()).decode()
            return {"Authorization": f"Basic {token}", "Content-Type": CONTENT_TYPE}
        return signed_headers(
            cfg.sinch_application_key, cfg.sinch_application_secret, method, path, body, datetime.now(UTC).isoformat()
        )

    async def _call(self, method: str, path: str, payload: dict) -> tuple[int, dict]:
        body = json.dumps(payload, separators=(",", ":")).encode()
        r, data = await call(
            "Sinch",
            self.name,
            method,
            self.base + path,
            timeout=self.settings.phone_provider_timeout,
            content=body,
            headers=self._headers(method, path, body),
        )
        return r.status_code, data if isinstance(data, dict) else {}

    def _error(self, status: int, data: dict) -> ProviderError:
        detail = {
            "provider": self.name,
            "http_status": status,
            "error_code": data.get("errorCode"),
            "reference": data.get("reference"),
        }
        return ProviderError(
            f"Sinch refused the request: {data.get('message') or status}",
            retryable=status >= 500 or status == 429,
            detail={k: v for k, v in detail.items() if v is not None},
        )

    async def start(self, phone: str) -> FlashCallStarted:
        status, data = await self._call(
            "POST",
            "/verification/v1/verifications",
            {"identity": {"type": "number", "endpoint": phone}, "method": "flashCall"},
        )
        flash = data.get("flashCall")
        if status != 200 or not data.get("id") or not isinstance(flash, dict):
            raise self._error(status, data)
        timeout = flash.get("interceptionTimeout")
        return FlashCallStarted(
            id=str(data["id"]),
            cli_filter=flash.get("cliFilter"),
            interception_timeout=int(timeout) if isinstance(timeout, (int, float)) else None,
        )

    async def report(self, phone: str, cli: str) -> bool | None:
        status, data = await self._call(
            "PUT", f"/verification/v1/verifications/number/{phone}", {"method": "flashCall", "flashCall": {"cli": cli}}
        )
        if status == 404:  # no verification pending for this number at Sinch (expired or unknown)
            return None
        if status != 200:
            raise self._error(status, data)
        verdict = data.get("status")
        if verdict == "SUCCESSFUL":
            return True
        if verdict in ("FAIL", "PENDING"):  # a wrong CLI; the verification stays open at Sinch
            return False
        return None  # DENIED, ABORTED, ERROR: over
