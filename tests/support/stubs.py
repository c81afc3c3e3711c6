"""Local HTTP servers speaking the WhatsApp Cloud API and Sinch Verification API shapes (as Meta and
Sinch document them), for tests/accounts/test_auth_otp.py and tests/accounts/test_auth_flashcall.py; plus phone
numbers and a loopback-address pool so each test's per-IP counters stay its own."""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import phonenumbers

from infra.providers.sinch import signed_headers

ips = (f"127.{i}.{j}.{k}" for i, j, k in itertools.product(range(60, 120), range(1, 250), range(2, 250)))


def new_phone() -> str:
    """A random valid Egyptian mobile number in E.164."""
    while True:
        phone = "+2010" + "".join(secrets.choice("0123456789") for _ in range(8))
        if phonenumbers.is_valid_number(phonenumbers.parse(phone)):
            return phone


class Stub:
    """A threaded HTTP server; `handle(method, path, headers, body) -> (status, json)` per request."""

    def __init__(self):
        self.requests: list[dict] = []
        self.mode = "ok"  # "ok", "down" (HTTP 5xx), "reject" (HTTP 4xx)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                req = {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "raw": raw,
                    "json": json.loads(raw) if raw else None,
                }
                stub.requests.append(req)
                status, body = stub.handle(req)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PUT = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, req: dict) -> tuple[int, dict]:
        raise NotImplementedError

    def to(self, phone: str) -> list[dict]:
        return [r for r in self.requests if phone in json.dumps(r["json"]) or phone in unquote(r["path"])]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class WhatsAppStub(Stub):
    """POST /{version}/{phone_number_id}/messages with a Bearer token; records each OTP."""

    version, number_id, token = "v21.0", "1098765432", "wa-test-token"

    def __init__(self):
        super().__init__()
        self.codes: dict[str, list[str]] = {}

    def env(self) -> dict:
        return {
            "WHATSAPP_API_BASE": self.base,
            "WHATSAPP_API_VERSION": self.version,
            "WHATSAPP_PHONE_NUMBER_ID": self.number_id,
            "WHATSAPP_ACCESS_TOKEN": self.token,
            "WHATSAPP_TEMPLATE": "daira_otp",
            "WHATSAPP_TEMPLATE_LANGUAGE": "ar",
        }

    def handle(self, req):
        if req["path"] != f"/{self.version}/{self.number_id}/messages" or req["method"] != "POST":
            return 404, {
                "error": {
                    "message": "Unknown path",
                    "type": "GraphMethodException",
                    "code": 100,
                    "fbtrace_id": "Afake404",
                }
            }
        if req["headers"].get("Authorization") != f"Bearer {self.token}":
            return 401, {
                "error": {
                    "message": "Invalid OAuth access token.",
                    "type": "OAuthException",
                    "code": 190,
                    "fbtrace_id": "Afake401",
                }
            }
        if self.mode == "down":
            return 503, {
                "error": {
                    "message": "Service temporarily unavailable",
                    "type": "OAuthException",
                    "code": 2,
                    "fbtrace_id": "Afake503",
                }
            }
        body = req["json"]
        if self.mode == "reject":
            return 400, {
                "error": {
                    "message": "Message undeliverable",
                    "type": "OAuthException",
                    "code": 131026,
                    "error_data": {"details": "recipient cannot receive"},
                    "fbtrace_id": "Afake400",
                }
            }
        code = body["template"]["components"][0]["parameters"][0]["text"]
        self.codes.setdefault(body["to"], []).append(code)
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"].lstrip("+")}],
            "messages": [{"id": f"wamid.{secrets.token_hex(12)}"}],
        }

    def last_code(self, phone: str) -> str:
        return self.codes[phone][-1]


class SinchStub(Stub):
    """Sinch Verification API, flash calls; checks the application signed request."""

    key = "7f3a2b1c-0000-4000-8000-00000000abcd"
    secret = base64.b64encode(b"sinch-test-application-secret!!").decode()

    def __init__(self):
        super().__init__()
        self.calls: dict[str, str] = {}  # phone -> the CLI it was called from
        self.bad_auth = 0

    def env(self) -> dict:
        return {
            "SINCH_VERIFICATION_BASE": self.base,
            "SINCH_APPLICATION_KEY": self.key,
            "SINCH_APPLICATION_SECRET": self.secret,
            "SINCH_AUTH": "signed",
        }

    def _signed_ok(self, req) -> bool:
        h = req["headers"]
        want = signed_headers(self.key, self.secret, req["method"], req["path"], req["raw"], h.get("x-timestamp", ""))
        return h.get("Authorization") == want["Authorization"] and h.get("Content-Type") == want["Content-Type"]

    def handle(self, req):
        if not self._signed_ok(req):
            self.bad_auth += 1
            return 401, {"errorCode": 40100, "message": "Invalid signature", "reference": "ref-401"}
        if self.mode == "down":
            return 503, {"errorCode": 50300, "message": "Service unavailable", "reference": "ref-503"}
        body = req["json"]
        if req["method"] == "POST" and req["path"] == "/verification/v1/verifications":
            if body.get("method") != "flashCall" or body.get("identity", {}).get("type") != "number":
                return 400, {"errorCode": 40001, "message": "Invalid method", "reference": "ref-400"}
            phone = body["identity"]["endpoint"]
            self.calls[phone] = "+4670" + "".join(secrets.choice("0123456789") for _ in range(7))
            return 200, {
                "id": secrets.token_hex(8),
                "method": "flashCall",
                "flashCall": {"cliFilter": "(.*)", "interceptionTimeout": 45, "reportTimeout": 75, "denyCallAfter": 0},
                "_links": [{"rel": "status", "href": "...", "method": "GET"}],
            }
        prefix = "/verification/v1/verifications/number/"
        if req["method"] == "PUT" and req["path"].startswith(prefix):
            phone = unquote(req["path"][len(prefix) :])
            if phone not in self.calls:
                return 404, {"errorCode": 40400, "message": "Verification not found", "reference": "ref-404"}
            if body != {"method": "flashCall", "flashCall": {"cli": body.get("flashCall", {}).get("cli")}}:
                return 400, {"errorCode": 40001, "message": "Invalid report", "reference": "ref-400"}
            ok = body["flashCall"]["cli"] == self.calls[phone]
            if ok:
                del self.calls[phone]
            return 200, {
                "id": "x",
                "method": "flashcall",
                "status": "SUCCESSFUL" if ok else "FAIL",
                **({} if ok else {"reason": "Invalid CLI"}),
            }
        return 404, {"errorCode": 40400, "message": "Not found", "reference": "ref-404"}
