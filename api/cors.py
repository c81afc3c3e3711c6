"""CORS for browser front ends (quart-cors): origins from CORS_ORIGINS (default: the seed's
FRONTEND_URL), preflights cached CORS_MAX_AGE seconds. Bearer tokens only: credentials (cookies,
HTTP auth) are never allowed, so "*" is a safe setting for public deployments.

The websockets (/ws, GraphQL subscriptions at /graphql) are exempt: they authenticate by token,
not by cookie, so a page of another origin gains nothing, and native clients send no Origin at
all (quart-cors would refuse them)."""

from __future__ import annotations

from quart import Quart
from quart_cors import cors, cors_exempt

from infra.settings import Settings

ALLOW_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "Accept-Language",
    # Tus uploads (api/routes/tus.py)
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Offset",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Concat",
    "X-HTTP-Method-Override",
]
EXPOSE_HEADERS = [
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Location",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Max-Size",
    "Tus-Extension",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Expires",
]

exempt = cors_exempt


def register(app: Quart, settings: Settings) -> None:
    cors(
        app,
        allow_origin=settings.cors_origins,
        allow_credentials=False,
        allow_methods=ALLOW_METHODS,
        allow_headers=ALLOW_HEADERS,
        expose_headers=EXPOSE_HEADERS,
        max_age=settings.cors_max_age,
        send_origin_wildcard="*" in settings.cors_origins,
    )
