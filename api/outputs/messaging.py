"""Response bodies of direct messages and notifications."""

from __future__ import annotations

from typing import Any

from api.outputs import Open, Page


class MessageOut(Open):
    id: str
    conversation_id: str
    sender_id: str
    body: str
    client_id: str | None = None
    created_at: str


MessagePage = Page[MessageOut]


class DmSettingsOut(Open):
    dm_policy: str


class ReadReceiptOut(Open):
    """The read position of the conversation."""


class ConversationOut(Open):
    id: str
    peer: dict[str, Any]
    last_message: MessageOut | None = None
    unread: int
    peer_read_up_to: str | None = None


ConversationPage = Page[ConversationOut]


class NotificationOut(Open):
    """Aggregated activity: `text` reads e.g. "alice and 12 others reacted to your post"."""

    id: str
    kind: str
    target_id: str
    post_id: str | None = None
    actors: list[dict[str, Any]] = []
    actor_count: int
    event_count: int
    text: str
    read: bool
    created_at: str
    updated_at: str
    # kinds sanction / reinstated: {"action", "rule", "reason", "until", "automatic"}; else null
    sanction: dict[str, Any] | None = None


class NotificationPage(Page[NotificationOut]):
    unread_count: int | None = None


class UnreadOut(Open):
    unread_count: int


class MarkedReadOut(Open):
    updated: int
    unread_count: int
