"""Feed, trending and recommendation request shapes, shared by REST and GraphQL."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from api.inputs import Strict

Topic = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class FeedIn(Strict):
    cursor: str | None = Field(None, max_length=4096)
    limit: int = Field(20, ge=1, le=50)


class TrendingIn(Strict):
    hashtag: str | None = Field(None, max_length=101)
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(20, ge=1, le=100)


class RecommendedIn(Strict):
    cursor: str | None = Field(None, max_length=200)
    limit: int | None = Field(None, ge=1, le=50)


class InterestsIn(Strict):
    topics: list[Topic] = Field(max_length=20)


class SearchIn(Strict):
    """q and type are checked by models/discovery/search.py (400 invalid_query / invalid_type),
    the same for GraphQL."""

    q: str | None = None
    type: str | None = None
    cursor: str | None = Field(None, max_length=400)
    limit: int = Field(20, ge=1, le=50)
    # posts: hybrid (default) or text (models/discovery/search.py checks it: 400 invalid_mode)
    mode: str | None = None


class HashtagPostsIn(Strict):
    sort: Literal["new", "top"] = "new"
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(20, ge=1, le=100)


class TrendingHashtagsIn(Strict):
    """`window`: only the configured one (TRENDING_WINDOW, 1 h by default) exists: "1h"."""

    window: str | None = Field(None, max_length=10)
    limit: int = Field(20, ge=1, le=100)
