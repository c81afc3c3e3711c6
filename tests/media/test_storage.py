"""Object storage: the local folder and the S3 path (boto3) against moto's S3 server."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlparse

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from infra.storage import LocalStorage, ObjectMissing, S3Storage

BUCKET = "media-test"
KEYS = {"access_key": "test", "secret_key": "test"}


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStorage(tmp_path / "media")
    return S3Storage(
        endpoint=request.getfixturevalue("s3_endpoint"), bucket=BUCKET, **KEYS, multipart_bytes=5 * 1024 * 1024
    )


async def test_put_get_list_delete(store, tmp_path):
    prefix = f"videos/{os.urandom(4).hex()}/"
    await store.put_bytes(f"{prefix}set/master.m3u8", b"#EXTM3U\n")
    src = tmp_path / "seg.ts"
    src.write_bytes(b"\x47" * 188)
    await store.put_file(f"{prefix}set/240p/seg_00000.ts", src, move=True)
    assert not src.exists()  # moved
    assert await store.get_bytes(f"{prefix}set/master.m3u8") == b"#EXTM3U\n"
    assert await store.exists(f"{prefix}set/240p/seg_00000.ts")
    assert not await store.exists(f"{prefix}set/none.ts")
    assert await store.list(prefix) == [f"{prefix}set/240p/seg_00000.ts", f"{prefix}set/master.m3u8"]
    assert await store.list(f"{prefix}set/240p/") == [f"{prefix}set/240p/seg_00000.ts"]
    async with store.local_copy(f"{prefix}set/240p/seg_00000.ts", tmp_path / "work") as copy:
        assert copy.read_bytes() == b"\x47" * 188
    if store.kind == "s3":
        assert not copy.exists()  # the download is removed after the block
    assert await store.delete_prefix(prefix) == 2
    assert await store.list(prefix) == []
    with pytest.raises(ObjectMissing):
        await store.get_bytes(f"{prefix}set/master.m3u8")
    with pytest.raises(ObjectMissing):
        async with store.local_copy(f"{prefix}set/master.m3u8", tmp_path / "work"):
            pass


async def test_keys_cannot_leave_the_root(store):
    for bad in ("../etc/passwd", "/abs", "a//b", "a/../b", ".hidden", "a/.x", "sp ace", ""):
        with pytest.raises(ValueError):
            await store.put_bytes(bad, b"x")


async def test_local_is_served_by_the_api(tmp_path):
    store = LocalStorage(tmp_path)
    await store.put_bytes("a/b.jpg", b"jpeg")
    assert await store.url("a/b.jpg", expires=60) is None
    assert store.local_path("a/b.jpg") == tmp_path / "a" / "b.jpg"
    assert store.local_path("a/b.jpg").read_bytes() == b"jpeg"


async def test_s3_large_objects_go_up_in_parts(s3_endpoint, tmp_path):
    store = S3Storage(endpoint=s3_endpoint, bucket=BUCKET, **KEYS, multipart_bytes=5 * 1024 * 1024)
    big = tmp_path / "original"
    data = os.urandom(11 * 1024 * 1024 + 5)
    big.write_bytes(data)
    await store.put_file("originals/big", big)
    meta = store.client.head_object(Bucket=BUCKET, Key="originals/big")
    assert meta["ETag"].strip('"').endswith("-3")  # a multipart upload of 3 parts
    assert meta["ContentLength"] == len(data)
    assert await store.get_bytes("originals/big") == data
    small = tmp_path / "small"
    small.write_bytes(b"x" * 1000)
    await store.put_file("originals/small", small)
    assert "-" not in store.client.head_object(Bucket=BUCKET, Key="originals/small")["ETag"]


async def test_s3_presigned_and_cdn_urls(s3_endpoint):
    store = S3Storage(endpoint=s3_endpoint, bucket=BUCKET, **KEYS, cdn_url="https://cdn.example.com/")
    await store.put_bytes("videos/v/s/240p/seg_00000.ts", b"\x47segment")
    url = await store.url("videos/v/s/240p/seg_00000.ts", expires=120)
    q = parse_qs(urlparse(url).query)
    assert q["X-Amz-Expires"] == ["120"] and q["X-Amz-Signature"]
    async with httpx.AsyncClient() as c:  # no Authorization header: the URL is the credential
        r = await c.get(url)
    assert r.status_code == 200 and r.content == b"\x47segment"
    assert r.headers["content-type"] == "video/mp2t"
    assert (
        await store.url("videos/v/s/240p/seg_00000.ts", expires=120, public=True)
        == "https://cdn.example.com/videos/v/s/240p/seg_00000.ts"
    )


async def test_s3_playback_through_the_api_needs_no_authorization(stack_env, s3_endpoint):
    """The API with S3 storage: playlists come rewritten from the API, segments and the
    thumbnail straight from the bucket by presigned URLs."""
    from sqlalchemy import insert

    from api.app import create_app
    from infra.settings import Settings
    from infra.storage import storage_for
    from models.core.base import utcnow
    from models.core.events import new_id
    from models.media.videos import Video
    from tests.support.factories import register

    settings = Settings(s3_endpoint=s3_endpoint, s3_bucket=BUCKET, s3_access_key="test", s3_secret_key="test")
    app = create_app(settings)
    async with app.test_app(), httpx.AsyncClient() as outside:
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
        user = await register(api)
        video_id, store = new_id(), storage_for(settings)
        root = f"videos/{video_id}/set1"
        await store.put_bytes(f"{root}/master.m3u8", b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000\n240p/index.m3u8\n")
        await store.put_bytes(
            f"{root}/240p/index.m3u8", b"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\nseg_00000.ts\n#EXT-X-ENDLIST\n"
        )
        await store.put_bytes(f"{root}/240p/seg_00000.ts", b"\x47segment")
        await store.put_bytes(f"{root}/thumbnail.jpg", b"\xff\xd8thumb")
        async with app.config["SERVICES"].sessions() as s, s.begin():
            await s.execute(
                insert(Video).values(
                    id=video_id,
                    owner_id=user["user"]["id"],
                    status="ready",
                    progress=100,
                    size=1,
                    received=1,
                    upload_metadata={},
                    renditions=["240p"],
                    playlist_key=f"{root}/master.m3u8",
                    thumbnail_key=f"{root}/thumbnail.jpg",
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
        st = (await api.get(f"/media/{video_id}/status", headers=user["headers"])).json()
        master_url = st["playback_url"]
        assert urlparse(master_url).path.endswith("/master.m3u8") and "t=" in urlparse(master_url).query
        master = await api.get(master_url)
        variant_ref = master.text.splitlines()[-1]
        assert variant_ref.startswith("240p/index.m3u8?t=")
        variant = await api.get(master_url.rsplit("/", 1)[0] + "/" + variant_ref)
        segment_url = next(ln for ln in variant.text.splitlines() if ln and not ln.startswith("#"))
        assert segment_url.startswith(s3_endpoint) and "X-Amz-Signature" in segment_url
        assert (await outside.get(segment_url)).content == b"\x47segment"  # from the bucket, no headers
        assert (await outside.get(st["thumbnail_url"])).content == b"\xff\xd8thumb"
        direct = await api.get(master_url.replace("master.m3u8", "240p/seg_00000.ts"))
        assert direct.status_code == 302 and direct.headers["location"].startswith(s3_endpoint)
        assert (await api.get(master_url.split("?")[0])).status_code == 404  # no token: not public
        await api.aclose()
