"""Response bodies of message requests and of messages with images or videos
(models/messaging/requests.py, models/messaging/attachments.py)."""

from __future__ import annotations

from typing import Any

from api.outputs import Open, Page


class AttachmentOut(Open):
    """`kind` image: {"id", "status", "urls", "jpeg_urls", "width", "height"}; `kind` video:
    {"id", "status", "playback_url", "thumbnail_url", "duration_s", "width", "height"}. Links
    are signed and expire (MEDIA_URL_TTL)."""

    kind: str
    id: str
    status: str


class SentOut(Open):
    """A sent message (201, `request` false) or one held in a message request (202, `request`
    true, `pending` true, `conversation_id` null, `request_id`)."""

    id: str
    conversation_id: str | None = None
    sender_id: str
    recipient_id: str | None = None
    body: str
    client_id: str | None = None
    created_at: str
    attachment: AttachmentOut | None = None
    request: bool
    request_id: str | None = None
    pending: bool = False


class MessageRequestOut(Open):
    """A pending request: `sender` (your inbox) or `recipient` (your sent requests), with its
    held messages, oldest first."""

    id: str
    status: str
    messages: list[SentOut]
    message_count: int
    created_at: str
    updated_at: str
    sender: dict[str, Any] | None = None
    recipient: dict[str, Any] | None = None


MessageRequestPage = Page[MessageRequestOut]


class RequestDecisionOut(Open):
    request_id: str
    status: str
    conversation_id: str | None = None
