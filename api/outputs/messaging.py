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
    reply_to_id: str | None = None
    unsent: bool = False


MessagePage = Page[MessageOut]


class DmSettingsOut(Open):
    dm_policy: str


class ReadReceiptOut(Open):
    """The read position of the conversation."""


class ConversationOut(Open):
    id: str
    kind: str
    name: str | None = None
    avatar_image_id: str | None = None
    peer: dict[str, Any] | None = None
    last_message: MessageOut | None = None
    unread: int
    peer_read_up_to: str | None = None
    muted_until: str | None = None
    role: str


class GroupOut(Open):
    """A group as its member sees it (`invite_code` for admins only)."""

    id: str
    kind: str
    name: str | None = None
    avatar_image_id: str | None = None
    owner_id: str | None = None
    member_count: int
    created_at: str
    role: str | None = None
    muted_until: str | None = None
    invite_code: str | None = None


class MemberOut(Open):
    user: dict[str, Any]
    role: str
    joined_at: str
    read_up_to: str | None = None
    online: bool | None = None


class MembersOut(Open):
    items: list[MemberOut]


class InviteOut(Open):
    conversation_id: str
    invite_code: str


class RoleOut(Open):
    conversation_id: str
    user_id: str
    role: str


class MuteOut(Open):
    conversation_id: str
    muted_until: str | None = None


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
