"""Report and moderation-case request shapes (reports, the staff's queues), shared by REST and GraphQL."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from api.inputs import Strict


class ReportIn(Strict):
    target_type: Literal["user", "post"]
    target_id: UUID
    reason: str = Field(min_length=1, max_length=500)


class ReportsQuery(Strict):
    status: Literal["open", "upheld", "dismissed"] | None = None
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=100)


class ResolveIn(Strict):
    outcome: Literal["upheld", "dismissed"]


class CasesQuery(Strict):
    status: Literal["open", "closed"] = "open"
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=100)


class DecideIn(Strict):
    decision: Literal["approve", "reject"]
    note: str | None = Field(None, max_length=500)


class HeldImagesQuery(Strict):
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=100)


# ---------------------------------------------------------------- the one queue (/moderation)


class ModerationReportIn(Strict):
    target_type: Literal["post", "comment", "message", "user"]
    target_id: UUID
    reason: str = Field(min_length=1, max_length=40, description="a code of GET /moderation/reasons")
    details: str | None = Field(None, max_length=1000)


class QueueQuery(Strict):
    state: Literal["open", "claimed", "decided", "appealed"] | None = None
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=100)


class DecisionIn(Strict):
    action: Literal["dismiss", "remove", "restore", "warn", "strike", "suspend", "ban", "uphold", "overturn"]
    reason: str = Field(min_length=1, max_length=2000)
    rule: str | None = Field(None, min_length=1, max_length=64)
    duration_hours: int | None = Field(None, ge=1, le=24 * 365)


class AppealIn(Strict):
    text: str = Field(min_length=1, max_length=2000)
