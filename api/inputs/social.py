"""Circle request bodies, shared by REST and GraphQL."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from api.inputs import Strict


class CircleIn(Strict):
    name: str = Field(min_length=1, max_length=50)


class MemberIn(Strict):
    user_id: UUID
