"""Direct-message request bodies, shared by REST and GraphQL."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from api.inputs import Strict
from models.messaging import messages


class MessageIn(Strict):
    to_user_id: UUID
    body: str = Field("", max_length=20_000)  # the domain's limit (DM_MAX_BODY) answers message_too_long
    client_id: str | None = Field(None, min_length=1, max_length=64)
    # one image (POST /media/images) or one video (Tus) of yours: models/messaging/attachments.py
    image_id: UUID | None = None
    video_id: UUID | None = None


class ReadIn(Strict):
    up_to_message_id: UUID


class SettingsIn(Strict):
    dm_policy: messages.Policy
