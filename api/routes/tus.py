"""Tus 1.0 resumable uploads at /media/upload: core, creation, creation-with-upload,
termination, expiration and checksum (sha1). The upload URL's last segment is the video id.

The protocol's HTTP side only; the bookkeeping is models/media/uploads.py. docs/media.md.
"""

from __future__ import annotations

import base64
import binascii
from email.utils import format_datetime

from quart import Blueprint, g, request
from quart_schema import document_headers, document_response, tag

from api.auth import auth_required, parse_id, svc
from api.inputs.uploads import TusCreateHeadersIn, TusHeadersIn, TusPatchHeadersIn
from api.outputs import NoContent, errors
from api.outputs.media import TusCreatedHeaders, TusOffsetHeaders, TusOptionsHeaders
from models.core.errors import DomainError
from models.media import uploads

bp = Blueprint("tus", __name__, url_prefix="/media/upload")

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"
CHUNK_TYPE = "application/offset+octet-stream"
MAX_METADATA = 4096


class TusVersionUnsupported(DomainError):
    status, code = 412, "tus_version_unsupported"
    headers = {"Tus-Version": TUS_VERSION}


class BadContentType(DomainError):
    status, code = 415, "bad_content_type"


@bp.after_request
async def _tus_headers(response):
    response.headers["Tus-Resumable"] = TUS_VERSION
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _require_tus() -> None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise TusVersionUnsupported(f"Tus-Resumable must be {TUS_VERSION}")


def _int_header(name: str) -> int:
    raw = request.headers.get(name)
    if raw is None or not raw.isdigit() or len(raw) > 18:
        raise DomainError(f"{name} must be a non-negative integer", code=f"bad_{name.lower().replace('-', '_')}")
    return int(raw)


def _metadata() -> dict[str, str]:
    """Upload-Metadata: `key base64,key base64,key` (values may be absent)."""
    raw = request.headers.get("Upload-Metadata", "")
    if len(raw) > MAX_METADATA:
        raise DomainError(f"Upload-Metadata is longer than {MAX_METADATA} characters", code="bad_upload_metadata")
    out: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        key, _, value = pair.partition(" ")
        try:
            out[key] = base64.b64decode(value.strip(), validate=True).decode() if value.strip() else ""
        except (binascii.Error, UnicodeDecodeError):
            raise DomainError(
                f"Upload-Metadata value of {key!r} is not base64 text", code="bad_upload_metadata"
            ) from None
    return out


def _checksum() -> tuple[str, str] | None:
    raw = request.headers.get("Upload-Checksum")
    if raw is None:
        return None
    algorithm, _, digest = raw.strip().partition(" ")
    if algorithm not in uploads.CHECKSUMS:
        raise DomainError(
            f"checksum algorithm {algorithm!r} is not supported (use sha1)", code="checksum_algorithm_unsupported"
        )
    return algorithm, digest.strip()


def _expires(video) -> dict[str, str]:
    if video.status != "uploading" or video.upload_expires_at is None:
        return {}
    return {"Upload-Expires": format_datetime(video.upload_expires_at, usegmt=True)}


@bp.route("", methods=["OPTIONS"])
@tag(["uploads"])
@document_response(NoContent, 204, TusOptionsHeaders)
async def options():
    """Discovery: what this server supports (no authentication, no Tus-Resumable needed)."""
    return (
        "",
        204,
        {
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Max-Size": str(svc().settings.media_max_upload_bytes),
            "Tus-Checksum-Algorithm": ",".join(uploads.CHECKSUMS),
        },
    )


@bp.post("")
@tag(["uploads"])
@auth_required
@document_headers(TusCreateHeadersIn)
@document_response(NoContent, 201, TusCreatedHeaders)
@errors(409, 412, 413, 415, 460)
async def create():
    """Creation (+ creation-with-upload when the body carries the first bytes)."""
    _require_tus()
    if "Upload-Defer-Length" in request.headers:
        raise DomainError("Upload-Defer-Length is not supported: send Upload-Length", code="defer_length_unsupported")
    if "Upload-Length" not in request.headers:
        raise DomainError("Upload-Length is required", code="bad_upload_length")
    length, metadata = _int_header("Upload-Length"), _metadata()
    with_body = request.headers.get("Content-Type", "").split(";")[0].strip() == CHUNK_TYPE
    checksum = _checksum() if with_body else None
    video = await uploads.create_upload(svc(), owner_id=g.user_id, length=length, metadata=metadata)
    headers = {"Location": f"{request.root_path}{bp.url_prefix}/{video.id}"}
    if with_body and video.status == "uploading":
        try:
            headers["Upload-Offset"] = str(
                await uploads.append(svc(), video, at=0, body=request.body, checksum=checksum)
            )
        except DomainError as exc:  # the upload exists: tell the client where, to resume
            exc.headers = {**(getattr(exc, "headers", None) or {}), **headers}
            raise
        video = await uploads.get_upload(svc(), video.id, g.user_id)
    return "", 201, {**headers, **_expires(video)}


@bp.route("/<video_id>", methods=["HEAD"])
@tag(["uploads"])
@auth_required
@document_headers(TusHeadersIn)
@document_response(NoContent, 200, TusOffsetHeaders)
@errors(404, 410, 412)
async def head(video_id: str):
    _require_tus()
    video = await uploads.get_upload(svc(), parse_id(video_id, "video_id"), g.user_id)
    offset = await uploads.offset(svc(), video)
    video = await uploads.get_upload(svc(), video.id, g.user_id)
    return "", 200, {"Upload-Offset": str(offset), "Upload-Length": str(video.size), **_expires(video)}


@bp.patch("/<video_id>")
@tag(["uploads"])
@auth_required
@document_headers(TusPatchHeadersIn)
@document_response(NoContent, 204, TusOffsetHeaders)
@errors(404, 409, 410, 412, 413, 415, 460)
async def patch(video_id: str):
    _require_tus()
    if request.headers.get("Content-Type", "").split(";")[0].strip() != CHUNK_TYPE:
        raise BadContentType(f"PATCH bodies must be {CHUNK_TYPE}")
    at, checksum = _int_header("Upload-Offset"), _checksum()
    video = await uploads.get_upload(svc(), parse_id(video_id, "video_id"), g.user_id)
    new_offset = await uploads.append(svc(), video, at=at, body=request.body, checksum=checksum)
    video = await uploads.get_upload(svc(), video.id, g.user_id)
    return "", 204, {"Upload-Offset": str(new_offset), **_expires(video)}


@bp.delete("/<video_id>")
@tag(["uploads"])
@auth_required
@document_headers(TusHeadersIn)
@document_response(NoContent, 204)
@errors(404, 412)
async def terminate(video_id: str):
    _require_tus()
    video = await uploads.get_upload(svc(), parse_id(video_id, "video_id"), g.user_id)
    await uploads.terminate(svc(), video)
    return "", 204
