"""Images: POST /media/images (one image per call, multipart field `file`) and the served sizes,
GET /media/images/{id}/{96|320|1080}.{webp|jpg}, fetched by apps without an Authorization
header (docs/media.md#images).

A public image (ready, and an avatar or cover or on a public post) is served to anyone holding
its URL; any other only with the signed `t` token its links carry (models/media/images.py)."""

from __future__ import annotations

import re
import time
from uuid import UUID

from quart import Blueprint, g, redirect, request, send_file
from quart_schema import document_response, hide, tag

from api.auth import auth_required, parse_id, svc
from api.image_upload import read_file
from api.outputs import errors
from api.outputs.media import ImageOut
from infra.storage import content_type, storage_for
from models.content import post_images
from models.media import images
from models.media.images import ImageNotFound
from models.media.videos import verify

bp = Blueprint("images", __name__, url_prefix="/media/images")

_NAME = re.compile(r"^(96|320|1080)\.(webp|jpg)$")
_CACHE_TTL = 5.0  # seconds an image's publicity is remembered per process (a grid fetches many)
_public: dict[UUID, float] = {}


@bp.post("")
@tag(["media"])
@auth_required
@document_response(ImageOut, 201)
@errors(413, 415, 422)
async def upload():
    """multipart/form-data, field `file`: a JPEG, PNG, WebP or HEIC image of at most
    IMAGE_MAX_BYTES → 201 {"id", "status", "urls": {size: WebP URL}, "jpeg_urls", "width",
    "height"}. 415 `unsupported_image`, 413 `image_too_large`, 422 `image_rejected` (NSFW);
    status `in_review`: held, only you see it, it cannot be posted until approved."""
    image = await images.upload(svc(), g.user_id, await read_file(), purpose="post")
    return await images.view(svc(), image, public=False, base_url=request.host_url), 201


async def _is_public(image_id: UUID) -> bool:
    now = time.monotonic()
    if _public.get(image_id, 0.0) >= now:
        return True
    # a refusal is never cached: an image may just have become public
    if not await post_images.is_public(svc(), image_id):
        return False
    if len(_public) > 10_000:
        _public.clear()
    _public[image_id] = now + _CACHE_TTL
    return True


@bp.get("/<image_id>/<name>")
@hide
async def serve(image_id: str, name: str):
    iid, m = parse_id(image_id, "image_id"), _NAME.match(name)
    if m is None:
        raise ImageNotFound("no such file")
    signed = verify(svc().settings, iid, request.args.get("t"))
    public = not signed and await _is_public(iid)
    if not (signed or public):
        raise ImageNotFound("no such image")  # no oracle: a bad token looks like no image
    key = images.key(iid, int(m[1]), m[2])
    store = storage_for(svc().settings)
    local = store.local_path(key)
    if local is None:  # S3: the bytes come from the bucket, never through the API
        ttl = int(svc().settings.media_url_ttl.total_seconds())
        return redirect(await store.url(key, expires=ttl, public=public), 302)
    if not local.is_file():
        raise ImageNotFound("no such image")
    response = await send_file(local, mimetype=content_type(key), conditional=True)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable" if public else "private, max-age=3600"
    return response
