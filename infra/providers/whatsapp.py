"""WhatsApp Cloud API (Meta), authentication template with a copy-code button.

POST {WHATSAPP_API_BASE}/{version}/{phone_number_id}/messages with a Bearer token, as Meta's
Cloud API reference documents it. The template (WHATSAPP_TEMPLATE, category AUTHENTICATION) is
created beforehand in WhatsApp Manager; Meta requires the code both as the body parameter and
as the parameter of its URL button (index 0). Success answers `{"messages": [{"id": ...}]}`;
errors `{"error": {"message", "type", "code", "error_subcode"?, "fbtrace_id"}}`.
"""

from __future__ import annotations

from infra.providers.base import ProviderError, call
from infra.settings import Settings


class WhatsAppCloud:
    name = "whatsapp"

    def __init__(self, settings: Settings):
        self.settings = settings
        cfg = settings
        self.url = (
            f"{cfg.whatsapp_api_base.rstrip('/')}/{cfg.whatsapp_api_version}/{cfg.whatsapp_phone_number_id}/messages"
        )

    def message(self, phone: str, code: str) -> dict:
        cfg = self.settings
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": phone,
            "type": "template",
            "template": {
                "name": cfg.whatsapp_template,
                "language": {"code": cfg.whatsapp_template_language},
                "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": code}]},
                    {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": code}]},
                ],
            },
        }

    async def send_code(self, phone: str, code: str) -> str:
        headers = {"Authorization": f"Bearer {self.settings.whatsapp_access_token}"}
        r, body = await call(
            "WhatsApp",
            self.name,
            "POST",
            self.url,
            timeout=self.settings.phone_provider_timeout,
            json=self.message(phone, code),
            headers=headers,
        )
        if r.is_success and isinstance(body, dict):
            messages = body.get("messages")
            if isinstance(messages, list) and messages and isinstance(messages[0], dict) and messages[0].get("id"):
                return str(messages[0]["id"])
        err = body.get("error") if isinstance(body, dict) else None
        err = err if isinstance(err, dict) else {}
        detail = {
            "provider": self.name,
            "http_status": r.status_code,
            "error_code": err.get("code"),
            "error_type": err.get("type"),
            "fbtrace_id": err.get("fbtrace_id"),
        }
        # Throttling (HTTP 429, Meta codes 4/80007/130429/131048/131056) and 5xx are worth a retry.
        retryable = (
            r.status_code >= 500 or r.status_code == 429 or err.get("code") in (4, 80007, 130429, 131048, 131056)
        )
        raise ProviderError(
            f"WhatsApp refused the message: {err.get('message') or r.reason_phrase}",
            retryable=retryable,
            detail={k: v for k, v in detail.items() if v is not None},
        )
