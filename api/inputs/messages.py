"""Direct-message request bodies, shared by REST and GraphQL."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from api.inputs import Strict
from models.messaging import messages


class MessageIn(Strict):
    to_user_id: UUID
    body: str = Field("", max_length=20_000)  # the domain's limit (DM_MAX_BODY) answers message_too_long
    client_id: str | None = Field(None, min_length=1, max_length=64)
    # one image (POST /media/images) or one video (Tus) of yours: models/messaging/attachments.py
    image_id: UUID | None = None
    video_id: UUID | None = None
    reply_to_id: UUID | None = None


class ConversationMessageIn(Strict):
    """A message to a conversation by its id (a group, or a direct conversation)."""

    body: str = Field("", max_length=20_000)
    client_id: str | None = Field(None, min_length=1, max_length=64)
    reply_to_id: UUID | None = None
    image_id: UUID | None = None
    video_id: UUID | None = None


class GroupIn(Strict):
    name: str = Field(max_length=200)  # the domain's limit (100) answers validation_error
    # beyond 255 others the domain answers group_full
    member_ids: list[UUID] = Field(max_length=1000)
    avatar_image_id: UUID | None = None


class GroupUpdateIn(Strict):
    name: str | None = Field(None, max_length=200)
    avatar_image_id: UUID | None = None
    clear_avatar: bool = False


class MembersIn(Strict):
    user_ids: list[UUID] = Field(min_length=1, max_length=1000)


class RoleIn(Strict):
    role: Literal["owner", "admin", "member"]


class JoinIn(Strict):
    invite_code: str = Field(min_length=1, max_length=64)


class MuteIn(Strict):
    """Muted until then (ISO 8601 with a timezone); null unmutes."""

    muted_until: AwareDatetime | None = None


class ReadIn(Strict):
    up_to_message_id: UUID


class SettingsIn(Strict):
    dm_policy: messages.Policy
