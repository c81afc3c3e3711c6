"""The image of a multipart/form-data request (field `file`): POST /media/images, PUT
/users/me/avatar and /users/me/cover.

The body limit of these paths is IMAGE_MAX_BYTES plus room for the multipart framing
(api/app.JsonRequest); a larger body is refused while it is read, as 413 `image_too_large`.
Neither the part's file name nor its Content-Type is read: the content says what it is
(models/media/imaging.py)."""

from __future__ import annotations

from quart import g, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from api.auth import limit, svc
from models.core.errors import DomainError
from models.media.images import ImageTooLarge

PATHS = ("/media/images", "/users/me/avatar", "/users/me/cover")
MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file


class MissingFile(DomainError):
    status, code = 422, "validation_error"


async def read_file() -> bytes:
    """The bytes of the `file` part, after counting the upload against RATE_LIMIT_IMAGES (429
    `rate_limited` before the body is read)."""
    await limit("images", svc().settings.rate_limit_images, [f"user:{g.user_id}"], g.user_id)
    max_bytes = svc().settings.image_max_bytes
    try:
        files = await request.files
    except RequestEntityTooLarge:
        raise ImageTooLarge(f"an image may be at most {max_bytes // 1024**2} MB") from None
    except (BadRequest, ValueError):
        raise DomainError("the body is not valid multipart/form-data", code="bad_request") from None
    upload = files.get("file")
    if upload is None:
        raise MissingFile(
            "send the image as multipart/form-data in the field `file`",
            details=[{"field": "file", "message": "required"}],
        )
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageTooLarge(f"an image may be at most {max_bytes // 1024**2} MB")
    return data
