"""Opaque list cursors: unpadded base64url of a few bytes, and the one error a bad cursor gets.

Each list decides what its cursor holds (usually the last row's keyset position); this module
only wraps and unwraps it, so every list refuses a malformed cursor the same way.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from uuid import UUID

from models.core.errors import DomainError


def invalid() -> DomainError:
    return DomainError("cursor is not valid", code="invalid_cursor")


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error):
        raise invalid() from None


def encode_ids(*ids: UUID) -> str:
    return encode(b"".join(i.bytes for i in ids))


def decode_ids(cursor: str, n: int) -> tuple[UUID, ...]:
    raw = decode(cursor)
    if len(raw) != 16 * n:
        raise invalid()
    return tuple(UUID(bytes=raw[i * 16 : (i + 1) * 16]) for i in range(n))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_keyset(at: datetime, row_id: UUID) -> str:
    """The (timestamp, id) position of a newest-first list's last row."""
    micros = (at - _EPOCH) // timedelta(microseconds=1)  # exact, unlike float timestamps
    return encode(micros.to_bytes(8, "big", signed=True) + row_id.bytes)


def decode_keyset(cursor: str) -> tuple[datetime, UUID]:
    raw = decode(cursor)
    if len(raw) != 24:
        raise invalid()
    micros = int.from_bytes(raw[:8], "big", signed=True)
    return _EPOCH + timedelta(microseconds=micros), UUID(bytes=raw[8:])
