"""Request models shared by the REST routes and the GraphQL resolvers: the strict base and paging
here, each area's bodies and query strings in its own module (api/inputs/<area>.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Unknown fields are a 400, not silently ignored; strings arrive stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PageIn(Strict):
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=100)


class ShortPageIn(PageIn):
    """Pages of rich items (comments, messages, feeds): 20 by default."""

    limit: int = Field(20, ge=1, le=100)
