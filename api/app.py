"""Quart application factory: blueprints, error handlers, OpenAPI docs, lifecycle."""

from __future__ import annotations

import orjson
from quart import Quart, Request
from quart.json.provider import DefaultJSONProvider
from quart_schema import QuartSchema
from werkzeug.exceptions import BadRequest

from api import auth as guard
from api import errors, metrics
from api.realtime.hub import Hub
from api.routes import blueprints
from infra import logs
from infra.services import Services
from infra.settings import Settings, get_settings
from models.media.uploads import UploadSweeper


class JsonRequest(Request):
    # Bodies streamed to disk and bounded by their own rules (Tus chunks, api/routes/tus.py):
    # MAX_CONTENT_LENGTH, meant for JSON, must not apply. Quart fixes the limit when it builds
    # the request, before any route code runs, hence here.
    STREAMED_BODY_PREFIX = "/media/upload"

    def __init__(self, method, scheme, path, *args, **kwargs):
        if path == self.STREAMED_BODY_PREFIX or path.startswith(self.STREAMED_BODY_PREFIX + "/"):
            kwargs["max_content_length"] = None
        super().__init__(method, scheme, path, *args, **kwargs)

    def on_json_loading_failed(self, error: Exception):
        raise BadRequest("the request body is not valid JSON")


class OrjsonProvider(DefaultJSONProvider):
    def dumps(self, obj, **kwargs) -> str:
        return orjson.dumps(obj, default=self.default).decode()

    def loads(self, s, **kwargs):
        return orjson.loads(s)


def create_app(settings: Settings | None = None) -> Quart:
    settings = settings or get_settings()
    logs.setup(settings.log_level, service="api")
    app = Quart("daira")
    app.request_class = JsonRequest
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, SETTINGS=settings)
    QuartSchema(
        app,
        info={"title": "D-A-I-R-A API", "version": "0.1.0"},
        security_schemes={"bearer": {"type": "http", "scheme": "bearer", "bearer_format": "JWT"}},
        security=[{"bearer": []}],
        openapi_path="/openapi.json",
        swagger_ui_path="/docs",
        redoc_ui_path=None,
        scalar_ui_path=None,
    )
    app.json = OrjsonProvider(app)
    errors.register(app)
    guard.register(app)  # X-RateLimit-* headers
    metrics.instrument(app)
    for bp in blueprints():
        app.register_blueprint(bp)

    @app.before_serving
    async def _startup():
        svc = await Services.start(settings)
        hub = Hub(svc.redis)
        hub.start()
        sweeper = UploadSweeper(svc)  # abandoned Tus uploads
        sweeper.start()
        app.config.update(SERVICES=svc, HUB=hub, UPLOAD_SWEEPER=sweeper)

    @app.after_serving
    async def _shutdown():
        await app.config["UPLOAD_SWEEPER"].stop()
        await app.config["HUB"].stop()
        await app.config["SERVICES"].stop()

    return app
