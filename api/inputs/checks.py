"""Content checks and the moderators' term list (models/moderation/checks.py, terms.py)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from api.inputs import PageIn, Strict


class CheckContentIn(Strict):
    text: str | None = Field(None, max_length=10_000)
    media_id: UUID | None = None


class TermIn(Strict):
    term: str = Field(min_length=1, max_length=100)
    language: Literal["ar", "en"]
    label: str = Field(pattern=r"^[a-z][a-z_]{1,31}$")
    action: Literal["reject", "review"]


class TermsQuery(PageIn):
    language: Literal["ar", "en"] | None = None
    limit: int = Field(100, ge=1, le=500)
