"""Response bodies of direct messages and notifications."""

from __future__ import annotations

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


ConversationPage = Page[ConversationOut]


class NotificationOut(Open):
    id: str


class NotificationPage(Page[NotificationOut]):
    unread_count: int | None = None


class UnreadOut(Open):
    unread_count: int


class MarkedReadOut(Open):
    updated: int
    unread_count: int
