"""Tus 1.0 uploads at /media/upload against the real API, with the tuspy client and raw HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
import pytest_asyncio
from tusclient import client as tus_client
from tusclient.exceptions import TusUploadFailed

from tests.support.factories import register
from tests.support.processes import start_api
from tests.support.uploads import status, tus_upload, vid
from tests.support.videos import make_video
from tests.support.waiting import wait_for

TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = {**TUS, "Content-Type": "application/offset+octet-stream"}
MP4_HEAD = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"  # an ISO BMFF file's first box
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)


def mp4_like(size: int) -> bytes:
    """Bytes that pass the magic-byte check (an mp4 `ftyp` box) followed by noise."""
    return MP4_HEAD + os.urandom(size - len(MP4_HEAD))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    """A real 2 s video (~130 kB), so the worker, when running, keeps its original."""
    return make_video(tmp_path_factory.mktemp("clips") / "clip.mp4", 2, 320, 240, bitrate_kbps=12000).read_bytes()


def original(env: dict, video_id: str) -> bytes:
    return (Path(env["MEDIA_DIR"]) / "originals" / video_id).read_bytes()


def part_file(env: dict, video_id: str) -> Path:
    return Path(env["VAR_DIR"]) / "uploads" / f"{video_id}.part"


async def create(client, user, length: int, **headers) -> str:
    r = await client.post("/media/upload", headers={**user["headers"], **TUS, "Upload-Length": str(length), **headers})
    assert r.status_code == 201, r.text
    return r.headers["Location"]


async def head_offset(client, user, location: str) -> int:
    r = await client.head(location, headers={**user["headers"], **TUS})
    assert r.status_code == 200, r.status_code
    return int(r.headers["Upload-Offset"])


async def test_options_advertises_version_extensions_and_limits(client):
    r = await client.options("/media/upload")
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0" and r.headers["Tus-Resumable"] == "1.0.0"
    assert set(r.headers["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
        "checksum",
    }
    assert r.headers["Tus-Checksum-Algorithm"] == "sha1"
    assert int(r.headers["Tus-Max-Size"]) == 512 * 1024**2


async def test_tuspy_upload_resumes_with_a_new_client_and_stores_the_original(client, api, stack_env, tmp_path, clip):
    user = await register(client)
    src = tmp_path / "clip.mp4"
    src.write_bytes(clip)
    first = await asyncio.to_thread(
        tus_upload,
        api,
        user,
        src,
        chunk_size=16 * 1024,
        stop_at=64 * 1024,
        metadata={"filename": "clip.mp4", "filetype": "video/mp4"},
    )
    video_id = vid(first.url)
    assert (await status(client, user, video_id))["status"] == "uploading"
    assert await head_offset(client, user, first.url) == 64 * 1024
    # a fresh client that only knows the URL asks the server where to continue
    second = await asyncio.to_thread(
        tus_upload, api, user, src, url=first.url, chunk_size=32 * 1024, upload_checksum=True
    )
    assert second.offset == len(clip)
    assert (await status(client, user, video_id))["status"] in ("processing", "ready")
    assert hashlib.sha256(original(stack_env, video_id)).digest() == hashlib.sha256(clip).digest()
    assert not part_file(stack_env, video_id).exists()
    assert await head_offset(client, user, first.url) == len(clip)  # complete: offset == length


async def test_dropped_connection_keeps_received_bytes_and_resumes(client, api, stack_env, tmp_path, clip):
    user = await register(client)
    data = clip
    location = await create(client, user, len(data))
    half = len(data) // 2
    sock = await _send_partial_patch(api, user, location, data, half)
    # everything that arrived while the connection was open is on disk
    await wait_for(lambda: _offset_is(client, user, location, half), what="offset == bytes sent")
    sock.close()  # the connection drops mid-body
    await wait_for(lambda: _lock_free(client, user, location, half), what="dropped PATCH torn down")
    assert await head_offset(client, user, location) == half  # kept for the resume
    src = tmp_path / "clip.mp4"
    src.write_bytes(data)
    up = await asyncio.to_thread(tus_upload, api, user, src, url=f"{api}{location}")
    assert up.offset == len(data)
    assert original(stack_env, vid(location)) == data


async def test_dropped_checksummed_chunk_is_discarded(client, api):
    user = await register(client)
    data = mp4_like(1024 * 1024)
    location = await create(client, user, len(data))
    digest = base64.b64encode(hashlib.sha1(data).digest()).decode()
    sock = await _send_partial_patch(
        api, user, location, data, len(data) // 2, extra={"Upload-Checksum": f"sha1 {digest}"}
    )
    await wait_for(lambda: _offset_is(client, user, location, len(data) // 2), what="bytes written")
    sock.close()
    # unverifiable without the rest of the chunk: rolled back
    await wait_for(lambda: _offset_is(client, user, location, 0), what="chunk discarded")


async def _offset_is(client, user, location, n) -> bool:
    return await head_offset(client, user, location) == n


async def _lock_free(client, user, location, at: int) -> bool:
    """A PATCH that sends nothing succeeds once the dropped one released the upload."""
    r = await client.patch(location, headers={**user["headers"], **CHUNK, "Upload-Offset": str(at)}, content=b"")
    return r.status_code == 204


async def _send_partial_patch(
    api: str, user: dict, location: str, data: bytes, n: int, extra: dict | None = None
) -> socket.socket:
    """A PATCH announcing the whole body whose connection then sends only `n` bytes."""
    host, port = urlparse(api).hostname, urlparse(api).port
    headers = {
        "Host": f"{host}:{port}",
        **user["headers"],
        **CHUNK,
        "Upload-Offset": "0",
        "Content-Length": str(len(data)),
        **(extra or {}),
    }
    head = f"PATCH {location} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock = socket.create_connection((host, port))
    sock.sendall(head.encode() + data[:n])
    return sock


async def test_creation_with_upload_then_patch_completes(client, stack_env, clip):
    user = await register(client)
    data, cut = clip, len(clip) // 3
    r = await client.post(
        "/media/upload",
        content=data[:cut],
        headers={
            **user["headers"],
            **CHUNK,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": f"filename {base64.b64encode(b'a.mp4').decode()},is_confidential",
        },
    )
    assert r.status_code == 201, r.text
    assert r.headers["Upload-Offset"] == str(cut) and r.headers["Tus-Resumable"] == "1.0.0"
    assert "GMT" in r.headers["Upload-Expires"]
    location = r.headers["Location"]
    assert location.startswith("/media/upload/")
    r = await client.patch(
        location, content=data[cut:], headers={**user["headers"], **CHUNK, "Upload-Offset": str(cut)}
    )
    assert r.status_code == 204 and r.headers["Upload-Offset"] == str(len(data))
    assert "Upload-Expires" not in r.headers  # complete: nothing left to expire
    assert (await status(client, user, vid(location)))["status"] in ("processing", "ready")
    assert original(stack_env, vid(location)) == data
    assert not part_file(stack_env, vid(location)).exists()


async def test_checksum_mismatch_is_460_and_discards_the_chunk(client):
    user = await register(client)
    data = mp4_like(50_000)
    location = await create(client, user, len(data))
    wrong = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    r = await client.patch(
        location,
        content=data,
        headers={**user["headers"], **CHUNK, "Upload-Offset": "0", "Upload-Checksum": f"sha1 {wrong}"},
    )
    assert r.status_code == 460 and r.json()["error"]["code"] == "checksum_mismatch"
    assert await head_offset(client, user, location) == 0
    r = await client.patch(
        location,
        content=data,
        headers={**user["headers"], **CHUNK, "Upload-Offset": "0", "Upload-Checksum": "md5 AAAA"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "checksum_algorithm_unsupported"
    right = base64.b64encode(hashlib.sha1(data).digest()).decode()
    r = await client.patch(
        location,
        content=data,
        headers={**user["headers"], **CHUNK, "Upload-Offset": "0", "Upload-Checksum": f"sha1 {right}"},
    )
    assert r.status_code == 204 and r.headers["Upload-Offset"] == str(len(data))


async def test_offset_mismatch_is_409(client):
    user = await register(client)
    data = mp4_like(20_000)
    location = await create(client, user, len(data))
    r = await client.patch(location, content=data[:10_000], headers={**user["headers"], **CHUNK, "Upload-Offset": "0"})
    assert r.status_code == 204
    r = await client.patch(
        location, content=data[5_000:], headers={**user["headers"], **CHUNK, "Upload-Offset": "5000"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "offset_mismatch"
    assert await head_offset(client, user, location) == 10_000


async def test_size_limits_are_413(client):
    user = await register(client)
    r = await client.post("/media/upload", headers={**user["headers"], **TUS, "Upload-Length": str(512 * 1024**2 + 1)})
    assert r.status_code == 413 and r.json()["error"]["code"] == "upload_too_large"
    location = await create(client, user, 1000)
    r = await client.patch(location, content=mp4_like(1001), headers={**user["headers"], **CHUNK, "Upload-Offset": "0"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "upload_too_large"
    assert await head_offset(client, user, location) == 0


async def test_png_named_mp4_is_refused_by_magic_bytes_before_it_is_stored(client, api, stack_env, tmp_path):
    user = await register(client)
    src = tmp_path / "holiday.mp4"
    src.write_bytes(PNG + os.urandom(400_000))
    up = tus_client.TusClient(f"{api}/media/upload", headers=user["headers"]).uploader(
        file_path=str(src), chunk_size=100_000, metadata={"filename": "holiday.mp4", "filetype": "video/mp4"}
    )
    with pytest.raises(TusUploadFailed) as err:
        await asyncio.to_thread(up.upload)
    assert err.value.status_code == 415
    video_id = vid(up.url)
    st = await status(client, user, video_id)
    assert st["status"] == "failed" and st["reason"] == "unsupported_container"
    assert not part_file(stack_env, video_id).exists()  # nothing of it kept
    assert not (Path(stack_env["MEDIA_DIR"]) / "originals" / video_id).exists()
    r = await client.head(up.url, headers={**user["headers"], **TUS})
    assert r.status_code == 410 and r.headers["Tus-Resumable"] == "1.0.0"
    # the magic bytes are judged even when the first chunk is shorter than they are
    location = await create(client, user, 1000)
    r = await client.patch(location, content=PNG[:3], headers={**user["headers"], **CHUNK, "Upload-Offset": "0"})
    assert r.status_code == 204
    r = await client.patch(location, content=PNG[3:], headers={**user["headers"], **CHUNK, "Upload-Offset": "3"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_container"


async def test_tus_resumable_header_is_required(client):
    user = await register(client)
    r = await client.post("/media/upload", headers={**user["headers"], "Upload-Length": "10"})
    assert r.status_code == 412 and r.headers["Tus-Version"] == "1.0.0"
    assert r.json()["error"]["code"] == "tus_version_unsupported"
    r = await client.post("/media/upload", headers={**user["headers"], "Tus-Resumable": "0.2.2", "Upload-Length": "10"})
    assert r.status_code == 412
    r = await client.post("/media/upload", headers={**TUS, "Upload-Length": "10"})
    assert r.status_code == 401


async def test_termination_deletes_the_bytes(client, stack_env):
    user = await register(client)
    data = mp4_like(30_000)
    location = await create(client, user, len(data))
    await client.patch(location, content=data[:10_000], headers={**user["headers"], **CHUNK, "Upload-Offset": "0"})
    assert part_file(stack_env, vid(location)).stat().st_size == 10_000
    r = await client.delete(location, headers={**user["headers"], **TUS})
    assert r.status_code == 204
    assert not part_file(stack_env, vid(location)).exists()
    assert (await client.head(location, headers={**user["headers"], **TUS})).status_code == 410
    r = await client.patch(
        location, content=data[10_000:], headers={**user["headers"], **CHUNK, "Upload-Offset": "10000"}
    )
    assert r.status_code == 410
    st = await status(client, user, vid(location))
    assert st["status"] == "failed" and st["reason"] == "terminated"


async def test_another_users_upload_does_not_exist_for_them(client):
    owner, other = await register(client), await register(client)
    location = await create(client, owner, 1000)
    for method in ("HEAD", "PATCH", "DELETE"):
        headers = {**other["headers"], **(CHUNK if method == "PATCH" else TUS), "Upload-Offset": "0"}
        r = await client.request(method, location, headers=headers, content=b"x" if method == "PATCH" else None)
        assert r.status_code == 404, method
    r = await client.get(f"/media/{vid(location)}/status", headers=other["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "video_not_found"
    assert await head_offset(client, owner, location) == 0


async def test_zero_length_upload_fails_empty(client):
    user = await register(client)
    location = await create(client, user, 0)
    st = await status(client, user, vid(location))
    assert st["status"] == "failed" and st["reason"] == "empty_file"


# ---------------------------------------------------------------- quotas and expiry (own API)


@pytest.fixture(scope="module")
def small_api(stack_env, log_dir):
    proc, base = start_api(
        stack_env,
        log_dir,
        MEDIA_QUOTA_BYTES=str(3 * 1024 * 1024),
        MEDIA_QUOTA_UPLOADS_PER_DAY="3",
        MEDIA_UPLOAD_EXPIRY="2",
        MEDIA_UPLOAD_SWEEP_INTERVAL="0.3",
    )
    yield base
    proc.stop()


@pytest_asyncio.fixture
async def small(small_api):
    async with httpx.AsyncClient(base_url=small_api, timeout=15) as c:
        yield c


async def test_quotas_bytes_then_uploads_per_day(small):
    user = await register(small)
    first = await create(small, user, 2 * 1024 * 1024)
    r = await small.post("/media/upload", headers={**user["headers"], **TUS, "Upload-Length": str(2 * 1024 * 1024)})
    assert r.status_code == 413 and r.json()["error"]["code"] == "storage_quota_exceeded"
    # a terminated upload frees its bytes but still counts as one of the day's uploads
    assert (await small.delete(first, headers={**user["headers"], **TUS})).status_code == 204
    await create(small, user, 2 * 1024 * 1024)
    await create(small, user, 1000)
    r = await small.post("/media/upload", headers={**user["headers"], **TUS, "Upload-Length": "1000"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "upload_quota_exceeded"
    assert int(r.headers["Retry-After"]) > 0
    other = await register(small)  # quotas are per user
    await create(small, other, 1000)


async def test_abandoned_upload_expires_and_is_cleaned_up(small, stack_env):
    user = await register(small)
    location = await create(small, user, 50_000)
    r = await small.patch(
        location, content=mp4_like(50_000)[:20_000], headers={**user["headers"], **CHUNK, "Upload-Offset": "0"}
    )
    assert r.status_code == 204 and "GMT" in r.headers["Upload-Expires"]
    video_id = vid(location)
    assert part_file(stack_env, video_id).exists()

    async def expired():
        r = await small.get(f"/media/{video_id}/status", headers=user["headers"])
        return r.json()["status"] == "failed" and r.json()["reason"] == "upload_expired"

    await wait_for(expired, timeout=15, interval=0.2, what="the sweep expired the upload")
    assert not part_file(stack_env, video_id).exists()
    assert (await small.head(location, headers={**user["headers"], **TUS})).status_code == 410
