"""The docs pages' scripts and styles, served by the API itself at pinned versions (no CDN):
Swagger UI's from the `swagger-ui-py` package (/docs), GraphiQL's vendored under api/static/graphiql
(GET /graphql)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from quart import Blueprint, send_from_directory
from quart_schema import hide

from api.graphql.graphiql import ASSETS as GRAPHIQL_ASSETS

bp = Blueprint("docs_assets", __name__)
SWAGGER_ASSETS = Path(str(files("swagger_ui") / "static"))
# Set as QUART_SCHEMA_SWAGGER_JS_URL / _CSS_URL (api/app.py).
SWAGGER_JS, SWAGGER_CSS = "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"
_CACHE = 7 * 24 * 3600  # pinned versions: a refresh comes with a new release of the API


@bp.get("/docs/assets/<path:name>")
@hide
async def swagger_asset(name: str):
    return await send_from_directory(SWAGGER_ASSETS, name, cache_timeout=_CACHE)


@bp.get("/graphql/assets/<path:name>")
@hide
async def graphiql_asset(name: str):
    return await send_from_directory(GRAPHIQL_ASSETS, name, cache_timeout=_CACHE)
