"""Quart application factory: blueprints, error handlers, OpenAPI docs, lifecycle."""

from __future__ import annotations

import asyncio

import orjson
from quart import Quart, Request, g
from quart.json.provider import DefaultJSONProvider
from quart_schema import QuartSchema
from werkzeug.exceptions import BadRequest

from api import auth as guard
from api import cors, errors, image_upload, metrics
from api.client_ip import TrustedProxies, parse_networks
from api.graphql import persisted
from api.openapi import ContractProvider
from api.realtime.hub import Hub
from api.routes import blueprints, docs_assets
from infra import db, logs
from infra.services import Services
from infra.settings import Settings, get_settings
from models.media.uploads import UploadSweeper
from models.moderation import checks


class JsonRequest(Request):
    # Bodies streamed to disk and bounded by their own rules (Tus chunks, api/routes/tus.py):
    # MAX_CONTENT_LENGTH, meant for JSON, must not apply. Quart fixes the limit when it builds
    # the request, before any route code runs, hence here.
    # Image uploads (api/image_upload.py) take IMAGE_MAX_BYTES and the multipart framing.
    STREAMED_BODY_PREFIX = "/media/upload"
    image_body_bytes = 10 * 1024**2 + image_upload.MULTIPART_SLACK  # create_app sets it from the settings

    def __init__(self, method, scheme, path, *args, **kwargs):
        if path == self.STREAMED_BODY_PREFIX or path.startswith(self.STREAMED_BODY_PREFIX + "/"):
            kwargs["max_content_length"] = None
        elif path in image_upload.PATHS:
            kwargs["max_content_length"] = self.image_body_bytes
        super().__init__(method, scheme, path, *args, **kwargs)

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        # Quart decodes the body as UTF-8 before parsing, outside its JSON error handling: a
        # non-UTF-8 body raised UnicodeDecodeError (a 500). orjson takes the bytes and refuses
        # bad UTF-8 like any other invalid JSON.
        if cache and self._cached_json[silent] is not Ellipsis:
            return self._cached_json[silent]
        if not (force or self.is_json):
            return None
        data = await self.get_data(cache=cache, as_text=False)
        try:
            result = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            result = None if silent else self.on_json_loading_failed(error)
        if cache:
            self._cached_json[silent] = result
        return result

    def on_json_loading_failed(self, error: Exception):
        raise BadRequest("the request body is not valid JSON (UTF-8)")


class OrjsonProvider(DefaultJSONProvider):
    def dumps(self, obj, **kwargs) -> str:
        return orjson.dumps(obj, default=self.default).decode()

    def loads(self, s, **kwargs):
        return orjson.loads(s)


def _answer_statement_counts(app: Quart) -> None:
    """X-SQL-Statements on every answer: the statements its request sent (infra/db.py)."""

    @app.before_request
    async def _count():
        g.sql_statements = db.counting()

    @app.after_request
    async def _tell(response):
        await asyncio.sleep(0)  # asyncpg reports raw queries through call_soon: let them land
        box = getattr(g, "sql_statements", None)
        if box is not None:
            response.headers["X-SQL-Statements"] = str(box[0])
        return response


def create_app(settings: Settings | None = None) -> Quart:
    settings = settings or get_settings()
    logs.setup(settings.log_level, service="api")
    app = Quart("daira")
    app.request_class = type(
        "AppRequest", (JsonRequest,), {"image_body_bytes": settings.image_max_bytes + image_upload.MULTIPART_SLACK}
    )
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SETTINGS=settings,
        # /docs loads Swagger UI from the API, not a CDN (works offline)
        QUART_SCHEMA_SWAGGER_JS_URL=docs_assets.SWAGGER_JS,
        QUART_SCHEMA_SWAGGER_CSS_URL=docs_assets.SWAGGER_CSS,
        # the allow-list, read once: a bad manifest stops the start (api/graphql/persisted.py)
        PERSISTED_QUERIES=(
            persisted.load_manifest(settings.graphql_persisted_queries) if settings.graphql_persisted_only else None
        ),
    )
    QuartSchema(
        app,
        info={"title": "D-A-I-R-A API", "version": "0.1.0"},
        security_schemes={"bearer": {"type": "http", "scheme": "bearer", "bearer_format": "JWT"}},
        security=[{"bearer": []}],
        openapi_path="/openapi.json",
        swagger_ui_path="/docs",
        redoc_ui_path=None,
        scalar_ui_path=None,
        openapi_provider_class=ContractProvider,
    )
    app.json = OrjsonProvider(app)
    errors.register(app)
    guard.register(app)  # X-RateLimit-* headers
    cors.register(app, settings)
    metrics.instrument(app)
    for bp in blueprints():
        app.register_blueprint(bp)
    app.asgi_app = TrustedProxies(app.asgi_app, parse_networks(settings.trusted_proxies))  # type: ignore[method-assign]
    if settings.count_statements:
        _answer_statement_counts(app)

    @app.before_serving
    async def _startup():
        svc = await Services.start(settings)
        hub = Hub(svc.redis)
        hub.start()
        sweeper = UploadSweeper(svc)  # abandoned Tus uploads
        sweeper.start()
        checks.warm_in_background()  # the text models load in a thread, not on the first write
        app.config.update(SERVICES=svc, HUB=hub, UPLOAD_SWEEPER=sweeper)

    @app.after_serving
    async def _shutdown():
        await app.config["UPLOAD_SWEEPER"].stop()
        await app.config["HUB"].stop()
        await app.config["SERVICES"].stop()

    return app
