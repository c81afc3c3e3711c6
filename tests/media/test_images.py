"""Images against the real stack (API under uvicorn, PostgreSQL, local object storage, the real
open_nsfw model): type from content, decompression bombs, EXIF/GPS stripped from every served
size, NSFW refused or held, photo posts and their links."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlparse
from uuid import uuid4

import httpx
import pytest

from tests.support.factories import admin_user, register
from tests.support.images import GPS_IFD, heic, photo, png, png_bomb, served, skin_close_up, upload
from tests.support.processes import start_api

SIZES = ("96", "320", "1080")


async def stored(db, user: dict) -> int:
    return await db.fetchval("SELECT count(*) FROM images WHERE owner_id = $1", user["user"]["id"])


def files_of(env: dict, image_id: str) -> list[Path]:
    return sorted((Path(env["MEDIA_DIR"]) / "images" / image_id).glob("*"))


async def test_gps_and_exif_gone_from_every_served_size(client, stack_env):
    me = await register(client)
    original = photo(1600, 1200, orientation=6)  # taken rotated: the pixels must be turned, then the tag dropped
    assert b"PhoneModel" in original and served(original).getexif().get_ifd(GPS_IFD)  # the input really has GPS
    r = await upload(client, me, original)
    assert r.status_code == 201, r.text
    img = r.json()
    assert img["status"] == "ready" and (img["width"], img["height"]) == (810, 1080)  # oriented, long side 1080
    assert set(img["urls"]) == set(img["jpeg_urls"]) == set(SIZES)
    expected = {"96": (72, 96), "320": (240, 320), "1080": (810, 1080)}
    for urls, fmt, ctype in ((img["urls"], "WEBP", "image/webp"), (img["jpeg_urls"], "JPEG", "image/jpeg")):
        for size, url in urls.items():
            assert "t=" in urlparse(url).query  # not on a public post: a signed token
            got = await client.get(url)  # no Authorization header
            assert got.status_code == 200, (url, got.text)
            assert got.headers["content-type"] == ctype
            im = served(got.content)
            assert im.format == fmt and im.size == expected[size]
            assert dict(im.getexif()) == {} and not im.getexif().get_ifd(GPS_IFD)
            assert "exif" not in im.info and "xmp" not in im.info
            assert b"Exif" not in got.content and b"PhoneModel" not in got.content and b"PhoneMaker" not in got.content
    # only the stripped sizes are stored, never the original
    names = [p.name for p in files_of(stack_env, img["id"])]
    assert names == sorted(f"{s}.{f}" for s in SIZES for f in ("jpg", "webp"))


async def test_type_comes_from_the_content(client, db):
    me = await register(client)
    # a PNG named .jpg, sent as text/plain: it is a PNG, and accepted
    r = await upload(client, me, png(64, 48), name="holiday.jpg", ctype="text/plain")
    assert r.status_code == 201, r.text
    assert (r.json()["width"], r.json()["height"]) == (64, 48)  # never upscaled
    # WebP and HEIC (pillow-heif)
    for data, name in ((photo(400, 300, fmt="WEBP", gps=False), "a.webp"), (heic(640, 480), "IMG_0001.HEIC")):
        r = await upload(client, me, data, name=name, ctype="application/octet-stream")
        assert r.status_code == 201, (name, r.text)
        assert (r.json()["width"], r.json()["height"]) == (640, 480) if name.endswith("HEIC") else (400, 300)
    before = await stored(db, me)
    bad = {
        "text named .png": (b"just some text, not pixels\n" * 10, "cat.png", "image/png"),
        "empty": (b"", "empty.jpg", "image/jpeg"),
        "truncated JPEG": (photo(800, 600, gps=False)[:4000], "cut.jpg", "image/jpeg"),
        "GIF": (
            b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
            "a.gif",
            "image/gif",
        ),
        "SVG": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "a.png", "image/png"),
    }
    for what, (data, name, ctype) in bad.items():
        r = await upload(client, me, data, name=name, ctype=ctype)
        assert r.status_code == 415, (what, r.text)
        assert r.json()["error"]["code"] == "unsupported_image", what
    assert await stored(db, me) == before  # nothing stored


async def test_bombs_and_oversized_bodies_are_refused_and_nothing_is_stored(client, db, stack_env):
    me = await register(client)
    bomb = png_bomb(50_000, 50_000)  # 2.5 gigapixels declared in under 100 bytes
    assert len(bomb) < 200
    started = time.monotonic()
    r = await upload(client, me, bomb, name="bomb.png", ctype="image/png")
    elapsed = time.monotonic() - started
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "image_too_large" and "pixel" in r.json()["error"]["message"]
    # refused from the header: decoding 7.5 GB of pixels could not finish in any reasonable time
    # (not a timing assertion on our speed, a guard against having decoded it at all)
    assert elapsed < 30
    # more bytes than IMAGE_MAX_BYTES (10 MB), refused while the body is read
    r = await upload(client, me, b"\xff\xd8\xff" + b"\0" * (11 * 1024 * 1024), name="big.jpg")
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "image_too_large"
    assert await stored(db, me) == 0
    # the request's body limit of other routes is unchanged
    r = await client.post(
        "/posts",
        content=b"{" + b" " * (300 * 1024) + b"}",
        headers={**me["headers"], "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


async def test_missing_file_field_is_a_clear_error(client):
    me = await register(client)
    r = await client.post("/media/images", files={"image": ("a.png", png(), "image/png")}, headers=me["headers"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = await client.post("/media/images", json={"file": "x"}, headers=me["headers"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = await client.post("/media/images", files={"file": ("a.png", png(), "image/png")})
    assert r.status_code == 401


async def test_nsfw_images_are_refused_or_held(client, db, stack_env):
    me, other = await register(client), await register(client)
    r = await upload(client, me, skin_close_up(200), name="x.png")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "image_rejected"
    assert await stored(db, me) == 0
    # scored between NSFW_REVIEW_AT and NSFW_REJECT_AT: stored but held
    r = await upload(client, me, skin_close_up(640, 0.8), name="y.png")
    assert r.status_code == 201, r.text
    held = r.json()
    assert held["status"] == "in_review"
    score = await db.fetchval("SELECT nsfw_score FROM images WHERE id = $1", held["id"])
    assert 0.5 <= score < 0.85
    assert (await client.get(held["urls"]["320"])).status_code == 200  # its owner's signed link
    unsigned = held["urls"]["320"].split("?")[0]
    assert (await client.get(unsigned)).status_code == 404  # nobody else's
    r = await client.post("/posts", json={"image_ids": [held["id"]]}, headers=me["headers"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_in_review"
    r = await upload(client, me, skin_close_up(640, 0.8), path="/users/me/avatar", method="PUT")
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_in_review"
    profile = (await client.get(f"/users/{me['user']['id']}/profile", headers=other["headers"])).json()
    assert profile["avatar_url"] is None


async def _images(client, user, n: int) -> list[dict]:
    out = []
    for i in range(n):
        r = await upload(client, user, png(100 + i, 50, (i * 20 % 255, 90, 160)), name=f"{i}.png")
        assert r.status_code == 201, r.text
        out.append(r.json())
    return out


async def test_photo_posts_keep_their_order_and_links(client):
    me, other = await register(client), await register(client)
    imgs = await _images(client, me, 3)
    ids = [imgs[2]["id"], imgs[0]["id"], imgs[1]["id"]]
    r = await client.post("/posts", json={"caption": "صور", "image_ids": ids}, headers=me["headers"])
    assert r.status_code == 201, r.text
    post = r.json()
    assert post["media"]["kind"] == "images" and post["video_id"] is None  # the post view (docs/feeds.md)
    assert [i["id"] for i in post["media"]["images"]] == ids
    seen = (await client.get(f"/posts/{post['id']}", headers=other["headers"])).json()
    assert [(i["id"], i["width"], i["height"]) for i in seen["media"]["images"]] == [
        (ids[0], 102, 50),
        (ids[1], 100, 50),
        (ids[2], 101, 50),
    ]
    assert seen["media"]["thumbnail_url"] == seen["media"]["images"][0]["urls"]["320"]
    for image in seen["media"]["images"]:
        url = image["urls"]["1080"]
        assert "t=" not in url  # a public post: no token, cacheable by anyone
        got = await client.get(url)
        assert got.status_code == 200 and got.headers["content-type"] == "image/webp"
        assert "public" in got.headers["cache-control"]
    # a followers-only photo post: signed links
    more = await _images(client, me, 1)
    r = await client.post(
        "/posts", json={"image_ids": [more[0]["id"]], "visibility": "followers"}, headers=me["headers"]
    )
    assert r.status_code == 201, r.text
    url = r.json()["media"]["images"][0]["jpeg_urls"]["320"]
    assert "t=" in url and (await client.get(url)).status_code == 200
    assert (await client.get(url.split("?")[0])).status_code == 404
    assert (await client.get(url.replace("t=", "t=1"))).status_code == 404
    # a text post has no images
    r = await client.post("/posts", json={"caption": "text"}, headers=me["headers"])
    assert r.json()["media"] is None


async def test_bad_image_ids(client):
    me, other = await register(client), await register(client)
    mine, theirs = await _images(client, me, 2), await _images(client, other, 1)
    cases = [
        ({"image_ids": [str(uuid4()) for _ in range(11)]}, 400, "too_many_images"),
        ({"image_ids": []}, 400, "too_many_images"),
        ({"image_ids": [mine[0]["id"], mine[0]["id"]]}, 400, "duplicate_image"),
        ({"image_ids": [mine[0]["id"]], "video_id": str(uuid4())}, 400, "video_and_images"),
        ({"image_ids": [mine[0]["id"], theirs[0]["id"]]}, 404, "image_not_found"),
        ({"image_ids": [str(uuid4())]}, 404, "image_not_found"),
        ({"image_ids": ["not-an-id"]}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        r = await client.post("/posts", json=body, headers=me["headers"])
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (body, r.text)
    r = await client.post("/posts", json={"image_ids": [mine[0]["id"]]}, headers=me["headers"])
    assert r.status_code == 201
    # an image is on one post at most; a refused post attached nothing
    r = await client.post("/posts", json={"image_ids": [mine[1]["id"], mine[0]["id"]]}, headers=me["headers"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_already_attached"
    r = await client.post("/posts", json={"image_ids": [mine[1]["id"]]}, headers=me["headers"])
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("name", ["97.webp", "96.png", "..%2F96.webp", "96.webp.jpg"])
async def test_unknown_sizes_are_not_served(client, name):
    me = await register(client)
    img = (await _images(client, me, 1))[0]
    token = img["urls"]["96"].split("?")[1]
    r = await client.get(f"/media/images/{img['id']}/{name}?{token}")
    assert r.status_code == 404


async def test_graphql_photo_post(client):
    me = await register(client)
    imgs = await _images(client, me, 2)
    r = await client.post(
        "/graphql",
        json={
            "query": """mutation($in: CreatePostInput!) { createPost(input: $in) {
                id images { id status width height urls { size url jpegUrl } } } }""",
            "variables": {"in": {"caption": "two", "imageIds": [imgs[1]["id"], imgs[0]["id"]]}},
        },
        headers=me["headers"],
    )
    body = r.json()
    assert "errors" not in body, body
    got = body["data"]["createPost"]["images"]
    assert [i["id"] for i in got] == [imgs[1]["id"], imgs[0]["id"]]
    assert [u["size"] for u in got[0]["urls"]] == [96, 320, 1080]
    assert got[0]["urls"][0]["jpegUrl"].split("?")[0].endswith("/96.jpg")
    r = await client.post(
        "/graphql",
        json={"query": "mutation { createPost(input: {imageIds: []}) { id } }"},
        headers=me["headers"],
    )
    assert r.json()["errors"][0]["extensions"]["code"] == "too_many_images"


async def test_held_images_wait_for_a_moderator(client, db, stack_env):
    owner, staff = await register(client), await admin_user(client, stack_env)
    held = []
    for _ in range(2):
        r = await upload(client, owner, skin_close_up(640, 0.8), name="y.png")
        assert r.status_code == 201 and r.json()["status"] == "in_review", r.text
        held.append(r.json()["id"])
    r = await client.get("/admin/moderation/images", headers=owner["headers"])
    assert r.status_code == 403
    queue = (await client.get("/admin/moderation/images?limit=100", headers=staff["headers"])).json()
    mine = [i for i in queue["items"] if i["owner_id"] == owner["user"]["id"]]
    assert [i["id"] for i in mine] == held  # oldest first
    assert 0.5 <= mine[0]["nsfw_score"] < 0.85 and mine[0]["purpose"] == "post"
    assert (await client.get(mine[0]["jpeg_urls"]["320"])).status_code == 200  # the moderator sees it (signed)
    # approve: the owner can post it, and a post shows it
    r = await client.post(
        f"/admin/moderation/images/{held[0]}/decide", json={"decision": "approve"}, headers=staff["headers"]
    )
    assert r.status_code == 200 and r.json() == {"image_id": held[0], "decision": "approve", "status": "ready"}
    r = await client.post("/posts", json={"image_ids": [held[0]]}, headers=owner["headers"])
    assert r.status_code == 201, r.text
    # reject: row and files gone
    r = await client.post(
        f"/admin/moderation/images/{held[1]}/decide", json={"decision": "reject"}, headers=staff["headers"]
    )
    assert r.status_code == 200 and r.json()["status"] == "deleted"
    assert await db.fetchval("SELECT count(*) FROM images WHERE id = $1", held[1]) == 0
    assert files_of(stack_env, held[1]) == []
    r = await client.post(
        f"/admin/moderation/images/{held[1]}/decide", json={"decision": "approve"}, headers=staff["headers"]
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "image_not_found"
    r = await client.post(
        f"/admin/moderation/images/{held[0]}/decide", json={"decision": "reject"}, headers=staff["headers"]
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "image_not_held"
    audited = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'moderation.image_decided' AND subject = ANY($1::text[])",
        [f"image:{i}" for i in held],
    )
    assert audited == 2
    # GraphQL: the same queue
    r = await client.post(
        "/graphql",
        json={"query": "{ heldImages(limit: 100) { items { id urls { size } } nextCursor } }"},
        headers=staff["headers"],
    )
    assert "errors" not in r.json(), r.json()
    assert not {held[0], held[1]} & {i["id"] for i in r.json()["data"]["heldImages"]["items"]}


@pytest.fixture(scope="module")
def limited_api(stack_env, log_dir):
    proc, base = start_api(stack_env, log_dir, RATE_LIMIT_IMAGES="2/1d")
    yield base
    proc.stop()


async def test_uploads_per_account_are_limited(limited_api):
    async with httpx.AsyncClient(base_url=limited_api, timeout=30) as c:
        me, other = await register(c), await register(c)
        for _ in range(2):
            assert (await upload(c, me, png(), name="a.png")).status_code == 201
        r = await upload(c, me, png(), name="a.png")
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited" and "Retry-After" in r.headers
        r = await upload(c, me, png(), path="/users/me/avatar", method="PUT")  # every image upload counts
        assert r.status_code == 429
        assert (await upload(c, other, png(), name="a.png")).status_code == 201  # per account


async def test_a_deleted_posts_images_go_with_it(client, svc, db, stack_env):
    from models.core.events import Event, received
    from streams.agents.post_media import post_media

    me = await register(client)
    imgs = await _images(client, me, 3)
    r = await client.post("/posts", json={"image_ids": [i["id"] for i in imgs]}, headers=me["headers"])
    post_id = r.json()["id"]
    r = await client.patch(
        f"/users/{me['user']['id']}/profile", json={"avatar_media_id": imgs[0]["id"]}, headers=me["headers"]
    )
    assert r.status_code == 200
    assert (await client.delete(f"/posts/{post_id}", headers=me["headers"])).status_code == 204
    assert await stored(db, me) == 1  # the rows went with the post; the avatar stays
    gone = [i["id"] for i in imgs[1:]]
    event = Event("post.deleted", {"post_id": post_id, "author_id": me["user"]["id"], "image_ids": gone})
    await post_media([received(event)], svc)  # what the worker does with the post.deleted the deletion published
    assert all(files_of(stack_env, i["id"]) == [] for i in imgs[1:]) and files_of(stack_env, imgs[0]["id"])
