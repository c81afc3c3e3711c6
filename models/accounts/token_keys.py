"""The keys that sign access tokens: derived from JWT_SECRET for that purpose alone, named by a `kid`.

Each secret (JWT_SECRET, then any JWT_PREVIOUS_SECRETS) yields one HMAC-SHA256 key,
HKDF-SHA256(secret, info="daira access-token v1"), and a key id, a short hash of that key. Tokens are
signed with the current secret's key and carry its `kid` in the header; verification picks the
key by `kid`, so after a rotation (new JWT_SECRET, the old one moved to JWT_PREVIOUS_SECRETS)
tokens issued before it keep working until they expire, and nobody is logged out (refresh
tokens are opaque and do not depend on the secret). A token without a `kid`, or with one no
configured secret gives, is invalid.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"daira access-token v1"


@lru_cache(maxsize=16)
def derive(secret: str) -> tuple[str, bytes]:
    """(kid, key) of one secret."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    return hashlib.sha256(b"kid:" + key).hexdigest()[:16], key


def signing_key(settings) -> tuple[str, bytes]:
    return derive(settings.jwt_secret)


def verification_key(settings, kid: object) -> bytes | None:
    for secret in (settings.jwt_secret, *settings.jwt_previous_secrets):
        k, key = derive(secret)
        if k == kid:
            return key
    return None
