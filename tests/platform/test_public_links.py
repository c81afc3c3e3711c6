"""Public links: anonymous reads of public posts, profiles, media and trending (REST and GraphQL)
answer as to a stranger, endpoints that need a user stay 401, a sent but bad token is 401 even on
public reads; the shared-link page with its Open Graph tags (escaped), the app-link files from
settings, and the per-IP limit of anonymous reads (an API of its own with small limits).

(The profile grid GET /users/{id}/posts is another branch's: its anonymous read is not tested here.)"""

from __future__ import annotations

import itertools
import time
from html.parser import HTMLParser
from uuid import uuid4

import httpx
import pytest

from tests.support.client import code
from tests.support.factories import create_post, user
from tests.support.processes import start_api
from tests.support.videos import video_with_files

ANON: dict = {"headers": {}}
_ips = (f"127.0.{i}.{j}" for i, j in itertools.product(range(10, 250), range(2, 250)))


class Metas(HTMLParser):
    """The page's <meta property|name=... content=...> tags and its links, as a browser reads them."""

    def __init__(self, html: str):
        super().__init__()
        self.meta: dict[str, str] = {}
        self.links: list[str] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and (a.get("property") or a.get("name")):
            self.meta[a.get("property") or a["name"]] = a["content"]
        if tag == "a":
            self.links.append(a["href"])

    def handle_data(self, data):
        self.text.append(data)


async def _posts(client, svc):
    author, stranger = await user(client), await user(client)
    public = await create_post(client, author, "hello world")
    r = await client.post("/posts", json={"caption": "fans only", "visibility": "followers"}, headers=author["headers"])
    followers = r.json()["id"]
    vid, _ = await video_with_files(svc, author["id"])
    r = await client.post("/posts", json={"caption": "clip", "video_id": str(vid)}, headers=author["headers"])
    video_post = r.json()["id"]
    hidden_vid, _ = await video_with_files(svc, author["id"])
    body = {"caption": "hidden clip", "video_id": str(hidden_vid), "visibility": "followers"}
    assert (await client.post("/posts", json=body, headers=author["headers"])).status_code == 201
    return author, stranger, public, followers, video_post, vid, hidden_vid


async def test_anonymous_reads_answer_as_to_a_stranger(client, svc):
    author, stranger, public, followers, _video_post, vid, hidden_vid = await _posts(client, svc)

    async def both(path: str) -> httpx.Response:
        anon = await client.get(path)
        strange = await client.get(path, headers=stranger["headers"])
        assert anon.status_code == strange.status_code, (path, anon.text, strange.text)
        if anon.status_code >= 400:
            assert anon.json() == strange.json()
        return anon

    r = await both(f"/posts/{public}")
    assert r.status_code == 200 and r.json()["id"] == public and r.json()["caption"] == "hello world"
    assert r.headers["X-RateLimit-Limit"]  # counted (per client IP)
    assert code(await both(f"/posts/{followers}")) == (404, "post_not_found")
    assert code(await both(f"/posts/{uuid4()}")) == (404, "post_not_found")
    assert code(await both("/posts/nope")) == (400, "invalid_id")
    assert (await both(f"/posts/{public}/counters")).json()["likes"] == 0
    assert code(await both(f"/posts/{followers}/counters")) == (404, "post_not_found")

    r = await both(f"/users/{author['id']}/profile")
    assert r.status_code == 200 and r.json()["username"] == author["user"]["username"]
    assert code(await both(f"/users/{uuid4()}/profile")) == (404, "user_not_found")

    r = await both(f"/media/{vid}/status")
    assert r.status_code == 200 and r.json()["status"] == "ready" and r.json()["thumbnail_url"]
    thumb = await client.get(r.json()["thumbnail_url"])  # a public video's links need no token
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert code(await both(f"/media/{hidden_vid}/status")) == (404, "video_not_found")

    r = await both("/feeds/trending")
    assert r.status_code == 200 and "items" in r.json()


async def test_user_endpoints_and_bad_tokens_stay_401(client):
    author = await user(client)
    post = await create_post(client, author)
    for method, path, body in (
        ("GET", "/feeds/home", None),
        ("GET", "/notifications", None),
        ("POST", "/posts", {"caption": "x"}),
        ("DELETE", f"/posts/{post}", None),
        ("POST", "/interactions/reactions", {"post_id": post, "type": "like"}),
        ("GET", "/recommendations/trending", None),
    ):
        r = await client.request(method, path, json=body)
        assert code(r) == (401, "unauthorized"), path
    # a token that is there but not valid is never read as "anonymous": the app must refresh
    for header in ("Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer"):
        for path in (f"/posts/{post}", f"/users/{author['id']}/profile", "/feeds/trending"):
            r = await client.get(path, headers={"Authorization": header})
            assert r.status_code == 401, (header, path, r.text)


async def test_anonymous_graphql_reads(client, svc):
    author, _stranger, public, followers, _video_post, vid, hidden_vid = await _posts(client, svc)

    async def anon(query: str, variables: dict, headers: dict | None = None) -> dict:
        r = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers or {})
        return r.json()

    q = "query($id: ID!) { post(id: $id) { id caption counters { likes } video { status } } }"
    out = await anon(q, {"id": public})
    assert out["data"]["post"]["id"] == public and out["data"]["post"]["counters"]["likes"] == 0
    assert (await anon(q, {"id": followers}))["errors"][0]["extensions"]["code"] == "post_not_found"
    out = await anon(
        "query($id: ID!) { user(id: $id) { username email profile { displayName } } }", {"id": str(author["id"])}
    )
    assert out["data"]["user"]["username"] == author["user"]["username"] and out["data"]["user"]["email"] is None
    assert (await anon("query($id: ID!) { video(id: $id) { status } }", {"id": str(vid)}))["data"]["video"][
        "status"
    ] == ("READY")
    out = await anon("query($id: ID!) { video(id: $id) { status } }", {"id": str(hidden_vid)})
    assert out["errors"][0]["extensions"]["code"] == "video_not_found"
    assert "items" in (await anon("{ trending { items { rank } nextCursor } }", {}))["data"]["trending"]

    for query in (
        "{ homeFeed { items { layer } } }",
        "{ me { id } }",
        "{ trendingRecommendations { items { rank } } }",
    ):
        assert (await anon(query, {}))["errors"][0]["extensions"]["code"] == "unauthorized", query
    out = await anon('mutation { createPost(input: {caption: "x"}) { id } }', {})
    assert out["errors"][0]["extensions"]["code"] == "unauthorized"
    out = await anon(q, {"id": public}, {"Authorization": "Bearer expired.or.forged"})
    assert out["errors"][0]["extensions"]["status"] == 401 and out["data"] == {"post": None}


async def test_shared_link_page(client, svc):
    author = await user(client)
    evil = '<script>alert("x")</script> & «سلام» ٣'
    r = await client.patch(
        f"/users/{author['id']}/profile", json={"display_name": '"><b>Ali'}, headers=author["headers"]
    )
    assert r.status_code == 200, r.text
    vid, _ = await video_with_files(svc, author["id"])
    r = await client.post("/posts", json={"caption": evil, "video_id": str(vid)}, headers=author["headers"])
    post = r.json()["id"]

    r = await client.get(f"/p/{post}")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert "<script>" not in r.text and '"><b>' not in r.text  # everything typed is escaped
    page = Metas(r.text)
    m = page.meta
    assert m["og:title"] == evil
    assert m["og:description"] == f'"><b>Ali (@{author["user"]["username"]}) on D-A-I-R-A'
    assert m["og:url"] == f"{client.base_url}/p/{post}".replace("//p", "/p")
    assert m["og:type"] == "video.other" and m["twitter:card"] == "summary_large_image"
    status = (await client.get(f"/media/{vid}/status")).json()
    assert m["og:image"] == status["thumbnail_url"]
    assert (await client.get(m["og:image"])).status_code == 200  # crawlers fetch it without a token
    assert f"daira://p/{post}" in page.links and m["al:android:url"] == f"daira://p/{post}"
    assert evil in "".join(page.text)

    text_post = await create_post(client, author, "")
    m = Metas((await client.get(f"/p/{text_post}")).text).meta
    assert "og:image" not in m and m["og:title"].endswith("on D-A-I-R-A") and m["twitter:card"] == "summary"

    r = await client.post("/posts", json={"caption": "secret", "visibility": "followers"}, headers=author["headers"])
    for path in (f"/p/{r.json()['id']}", f"/p/{uuid4()}"):
        r = await client.get(path)
        assert r.status_code == 404 and "text/html" in r.headers["content-type"]
        assert "secret" not in r.text and not [k for k in Metas(r.text).meta if k.startswith("og:")]
    assert (await client.get("/p/not-an-id")).status_code == 400


async def test_default_app_link_files(client):
    r = await client.get("/.well-known/assetlinks.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json" and r.json() == []
    r = await client.get("/.well-known/apple-app-site-association")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {"applinks": {"details": []}, "webcredentials": {"apps": []}}


# ------------------------------------------------------------------ an API with its own settings

FINGERPRINT = "14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5"


@pytest.fixture(scope="module")
def links_api(stack_env, log_dir):
    proc, base = start_api(
        stack_env,
        log_dir,
        RATE_LIMIT_ANONYMOUS="3/1d",
        RATE_LIMIT_API="1000/1d",
        ANDROID_APP_PACKAGE="eg.daira.app",
        ANDROID_CERT_FINGERPRINTS=FINGERPRINT,
        IOS_APP_IDS="ABCDE12345.eg.daira.app",
        APP_LINK_BASE="https://app.daira.example/open",
        PUBLIC_WEB_URL="https://daira.example",
    )
    yield base
    proc.stop()


def from_ip(base: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, timeout=15, transport=httpx.AsyncHTTPTransport(local_address=next(_ips)))


async def test_app_link_files_and_link_from_settings(links_api, client):
    async with from_ip(links_api) as c:
        r = await c.get("/.well-known/assetlinks.json")
        assert r.headers["content-type"] == "application/json"
        assert r.json() == [
            {
                "relation": ["delegate_permission/common.handle_all_urls"],
                "target": {
                    "namespace": "android_app",
                    "package_name": "eg.daira.app",
                    "sha256_cert_fingerprints": [FINGERPRINT],
                },
            }
        ]
        r = await c.get("/.well-known/apple-app-site-association")
        assert r.headers["content-type"] == "application/json"
        assert r.json() == {
            "applinks": {"details": [{"appIDs": ["ABCDE12345.eg.daira.app"], "components": [{"/": "/p/*"}]}]},
            "webcredentials": {"apps": ["ABCDE12345.eg.daira.app"]},
        }
        author = await user(client)
        post = await create_post(client, author, "hi")
        page = Metas((await c.get(f"/p/{post}")).text)
        assert page.meta["og:url"] == f"https://daira.example/p/{post}"
        assert f"https://app.daira.example/open/{post}" in page.links
        assert page.meta["al:android:package"] == "eg.daira.app"


async def test_anonymous_reads_are_limited_per_ip(links_api, client):
    author = await user(client)
    post = await create_post(client, author)
    async with from_ip(links_api) as c, from_ip(links_api) as other:
        for i in range(3):
            r = await c.get(f"/posts/{post}")
            assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"] == str(2 - i)
        for path in (f"/posts/{post}", f"/p/{post}", "/feeds/trending"):
            r = await c.get(path)
            assert code(r) == (429, "rate_limited"), path
            assert 1 <= int(r.headers["Retry-After"]) <= 86400 and int(r.headers["X-RateLimit-Reset"]) > time.time()
        r = await c.post("/graphql", json={"query": "{ trending { nextCursor } }"})
        assert r.status_code == 429
        assert (await other.get(f"/posts/{post}")).status_code == 200  # another address: its own count
        # a signed-in reader from the same address counts against their own limit
        assert (await c.get(f"/posts/{post}", headers=author["headers"])).status_code == 200
