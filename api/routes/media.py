"""Video status and playback: GET /media/{id}/status, and the HLS playlists, segments and
thumbnail players fetch without an Authorization header (docs/media.md).

Playback needs no header: a ready video on a public post is served to anyone holding its
(unguessable) URL; any other is served only with the signed, expiring `t` query token that the
status answer puts in its links. Playlists are rewritten on the way out so that every URI in
them carries the token (local storage: served here) or is a presigned / CDN URL (S3).
"""

from __future__ import annotations

import posixpath
import re
import time
from uuid import UUID

from quart import Blueprint, Response, g, redirect, request, send_file
from quart_schema import document_response, hide, tag

from api.auth import optional_user, parse_id, svc
from api.outputs import errors
from api.outputs.media import VideoStatusOut
from api.outputs.platform import Binary, Redirect
from infra.storage import check_key, content_type, storage_for
from models.content import post_videos
from models.media import videos
from models.media.videos import Video, VideoNotFound

bp = Blueprint("media", __name__, url_prefix="/media")

_URI_ATTR = re.compile(r'URI="([^"]+)"')
_CACHE_TTL = 5.0  # seconds a video's playability is remembered per process (players fetch often)
_cache: dict[UUID, tuple[float, Video | None, bool]] = {}


@bp.get("/<video_id>/status")
@tag(["media"])
@optional_user
@document_response(VideoStatusOut)
@errors(404)
async def status(video_id: str):
    """{"status", "progress", "reason", "playback_url", "thumbnail_url", "duration", "width", "height"}:
    every state for the owner; others (anonymous callers too) see a ready video on a post they may
    see, else 404."""
    return await post_videos.video_status(svc(), parse_id(video_id, "video_id"), g.user_id, base_url=request.host_url)


async def _playable(video_id: UUID, token: str | None, statuses: tuple[str, ...]) -> tuple[Video, bool]:
    now = time.monotonic()
    hit = _cache.get(video_id)
    if hit is not None and hit[0] >= now and _allowed(hit[1], hit[2], token, statuses):
        return hit[1], hit[2]
    # a refusal is never taken from the cache: a video may just have become public
    video = await videos.get_video(svc(), video_id)
    public = video is not None and await post_videos.is_public(svc(), video)
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[video_id] = (now + _CACHE_TTL, video, public)
    if not _allowed(video, public, token, statuses):
        raise VideoNotFound("no such video")  # no oracle: a bad token looks like no video
    return video, public


def _allowed(video: Video | None, public: bool, token: str | None, statuses: tuple[str, ...]) -> bool:
    if video is None or video.status not in statuses or not video.playlist_key:
        return False
    return (public and video.status == "ready") or videos.verify(svc().settings, video.id, token)


def _ttl() -> int:
    return int(svc().settings.media_url_ttl.total_seconds())


@bp.get("/<video_id>/hls/<path:path>")
@hide
@document_response(Binary)
@document_response(Redirect, 302)
@errors(403, 404)
async def hls(video_id: str, path: str):
    vid, token = parse_id(video_id, "video_id"), request.args.get("t")
    try:
        check_key(path)
    except ValueError:
        raise VideoNotFound("no such file") from None
    video, public = await _playable(vid, token, ("ready",))
    key = f"{videos.hls_root(video)}/{path}"
    store = storage_for(svc().settings)
    cache = "public, max-age=31536000, immutable" if public else "private, max-age=3600"
    if path.endswith(".m3u8"):
        text = (await store.get_bytes(key)).decode()
        body = await _rewrite(
            text, root=videos.hls_root(video), here=posixpath.dirname(path), token=token, public=public
        )
        return Response(
            body,
            content_type="application/vnd.apple.mpegurl",
            headers={"Cache-Control": "public, max-age=60" if public and not token else "private, no-store"},
        )
    return await _object(store, key, public, cache)


@bp.get("/<video_id>/thumbnail.jpg")
@hide
@document_response(Binary)
@document_response(Redirect, 302)
@errors(403, 404)
async def thumbnail(video_id: str):
    video, public = await _playable(parse_id(video_id, "video_id"), request.args.get("t"), ("ready", "in_review"))
    store = storage_for(svc().settings)
    return await _object(
        store, video.thumbnail_key, public, "public, max-age=3600" if public else "private, max-age=600"
    )


async def _object(store, key: str, public: bool, cache: str):
    local = store.local_path(key)
    if local is None:  # S3: the bytes come from the bucket, never through the API
        return redirect(await store.url(key, expires=_ttl(), public=public), 302)
    if not local.is_file():
        raise VideoNotFound("no such file")
    response = await send_file(local, mimetype=content_type(key), conditional=True)
    response.headers["Cache-Control"] = cache
    return response


async def _rewrite(text: str, *, root: str, here: str, token: str | None, public: bool) -> str:
    """Every URI of a playlist made fetchable by a player with no headers: playlists (and local
    segments) through this route with the token, S3 segments by their own signed / CDN URL."""
    store = storage_for(svc().settings)

    async def uri(ref: str) -> str:
        if "://" in ref or ref.startswith("/"):
            return ref
        if ref.endswith(".m3u8") or store.kind == "local":
            return f"{ref}?t={token}" if token else ref
        key = posixpath.normpath(posixpath.join(root, here, ref))
        return await store.url(key, expires=_ttl(), public=public)

    out = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            line = await uri(line.strip())
        elif line.startswith("#") and 'URI="' in line:
            for ref in _URI_ATTR.findall(line):
                line = line.replace(f'URI="{ref}"', f'URI="{await uri(ref)}"')
        out.append(line)
    return "\n".join(out) + "\n"
