"""Response bodies of health and the non-JSON routes (HTML pages, playlists, images, redirects)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from api.outputs import Open


class HealthOut(Open):
    status: str


class ReadyOut(Open):
    """`ready` with 200, `not_ready` with 503; each check says ok or its error."""

    status: str
    checks: dict[str, Any]


class Html(BaseModel):
    """An HTML page."""


class PlainText(BaseModel):
    """Plain text."""


class Binary(BaseModel):
    """Bytes (an HLS playlist or segment, an image)."""


class Redirect(BaseModel):
    """A redirect to a signed URL (Location)."""


class GraphQLOut(Open):
    """A GraphQL response (the GraphQL-over-HTTP shape, not ErrorOut): `data` and/or `errors`,
    each error with `extensions.code`."""

    data: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None
