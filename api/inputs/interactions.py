"""Comment, reaction, view, share and feedback request bodies, shared by REST and GraphQL."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from api.inputs import Strict
from models.content import feedback, views
from models.core.topics import ReactionType


class CommentIn(Strict):
    post_id: UUID
    body: str = Field(max_length=20_000)  # the domain's limit (2200) answers comment_too_long
    parent_id: UUID | None = None


class CommentEditIn(Strict):
    body: str = Field(max_length=20_000)


class ReactionIn(Strict):
    post_id: UUID
    type: ReactionType = "like"


class ViewIn(Strict):
    post_id: UUID
    watched_ms: int = Field(ge=0, le=24 * 3600 * 1000)


class ShareIn(Strict):
    post_id: UUID
    channel: Literal[views.SHARE_CHANNELS] = "link"  # type: ignore[valid-type]


class FeedbackIn(Strict):
    post_id: UUID
    kind: feedback.Kind
