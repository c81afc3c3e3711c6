"""Avatars and covers against the real stack: PUT /users/me/avatar and /users/me/cover
(multipart), the profile's image links (REST and GraphQL), and avatar ids checked by owner."""

from __future__ import annotations

from uuid import uuid4

from tests.support.factories import register
from tests.support.images import GPS_IFD, photo, png, served, upload


async def put_image(client, user, which: str, data: bytes, **kw):
    return await upload(client, user, data, path=f"/users/me/{which}", method="PUT", **kw)


async def test_avatar_upload_sets_the_profile_and_is_served_publicly(client):
    me, other = await register(client), await register(client)
    r = await put_image(client, me, "avatar", photo(900, 1200), name="me.heic", ctype="image/heic")
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["user_id"] == me["user"]["id"] and p["avatar_media_id"] == p["avatar"]
    assert set(p["avatar_urls"]) == set(p["avatar_jpeg_urls"]) == {"96", "320", "1080"}
    assert p["avatar_url"] == p["avatar_urls"]["320"]
    assert p["cover_url"] is None and p["cover_urls"] is None
    # an avatar is public: anyone holding the URL gets it, without a token or a header
    for size, url in p["avatar_urls"].items():
        assert "t=" not in url
        got = await client.get(url)
        assert got.status_code == 200 and got.headers["content-type"] == "image/webp"
        im = served(got.content)
        assert max(im.size) == int(size) and not im.getexif().get_ifd(GPS_IFD) and "exif" not in im.info
    # others see the same links
    seen = (await client.get(f"/users/{me['user']['id']}/profile", headers=other["headers"])).json()
    assert seen["avatar_url"] == p["avatar_url"] and seen["avatar_media_id"] == p["avatar_media_id"]
    # a new avatar replaces it
    r = await put_image(client, me, "avatar", png(300, 300), name="new.png", ctype="image/png")
    assert r.status_code == 200 and r.json()["avatar_media_id"] != p["avatar_media_id"]


async def test_cover_upload(client):
    me = await register(client)
    r = await put_image(client, me, "cover", photo(2400, 800, gps=True), name="cover.jpg")
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["cover_media_id"] and p["cover_url"] == p["cover_urls"]["320"] and p["avatar_url"] is None
    got = await client.get(p["cover_urls"]["1080"])
    assert got.status_code == 200 and served(got.content).size == (1080, 360)
    got = await client.get(p["cover_jpeg_urls"]["96"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"


async def test_bad_avatar_uploads(client):
    me = await register(client)
    r = await put_image(client, me, "avatar", b"%PDF-1.4 not an image", name="me.png", ctype="image/png")
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_image"
    r = await client.put("/users/me/avatar", files={"photo": ("a.png", png(), "image/png")}, headers=me["headers"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = await client.put("/users/me/cover", files={"file": ("a.png", png(), "image/png")})
    assert r.status_code == 401
    p = (await client.get(f"/users/{me['user']['id']}/profile", headers=me["headers"])).json()
    assert p["avatar_url"] is None and p["avatar_media_id"] is None


async def test_avatar_media_id_must_be_your_own_image(client):
    me, other = await register(client), await register(client)
    r = await upload(client, other, png(), name="theirs.png")
    theirs = r.json()["id"]
    url = f"/users/{me['user']['id']}/profile"
    for field in ("avatar_media_id", "cover_media_id"):
        for bad in (theirs, str(uuid4())):
            r = await client.patch(url, headers=me["headers"], json={field: bad})
            assert r.status_code == 404 and r.json()["error"]["code"] == "image_not_found", (field, r.text)
    mine = (await upload(client, me, png(), name="mine.png")).json()["id"]
    r = await client.patch(url, headers=me["headers"], json={"avatar_media_id": mine, "cover_media_id": mine})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["avatar_media_id"] == p["cover_media_id"] == mine and p["avatar_url"] and p["cover_url"]
    # an image made an avatar is public from then on (it was signed-only before)
    assert (await client.get(p["avatar_url"])).status_code == 200
    # cleared with null
    r = await client.patch(url, headers=me["headers"], json={"avatar_media_id": None})
    assert r.json()["avatar_url"] is None and r.json()["cover_url"]


async def test_graphql_profile_image_fields(client):
    me, other = await register(client), await register(client)
    avatar = (await put_image(client, me, "avatar", png(200, 200), name="a.png")).json()
    query = """query($id: ID!) { user(id: $id) { profile {
        avatar avatarUrl coverUrl avatarUrls { size url jpegUrl } coverUrls { size } } } }"""
    r = await client.post(
        "/graphql", json={"query": query, "variables": {"id": me["user"]["id"]}}, headers=other["headers"]
    )
    got = r.json()["data"]["user"]["profile"]
    assert got["avatar"] == avatar["avatar_media_id"] and got["avatarUrl"] == avatar["avatar_url"]
    assert got["coverUrl"] is None and got["coverUrls"] is None
    assert [(u["size"], u["url"], u["jpegUrl"]) for u in got["avatarUrls"]] == [
        (int(s), avatar["avatar_urls"][s], avatar["avatar_jpeg_urls"][s]) for s in ("96", "320", "1080")
    ]
    theirs = (await upload(client, other, png(), name="t.png")).json()["id"]
    r = await client.post(
        "/graphql",
        json={
            "query": "mutation($in: UpdateProfileInput!) { updateProfile(input: $in) { avatarUrl } }",
            "variables": {"in": {"avatarMediaId": theirs}},
        },
        headers=me["headers"],
    )
    assert r.json()["errors"][0]["extensions"]["code"] == "image_not_found"
