"""An attacker sends what no client would: bodies that are not UTF-8 or not JSON, NUL bytes in
text, numbers no column holds. Each is a 4xx with a code (400 for a broken body or data the
database refuses), never a 5xx."""

from __future__ import annotations

import re
import uuid

from tests.abuse.accounts import account

NOT_UTF8 = b'{"caption": "\xc3\x28 \xff"}'
NOT_JSON = b"<xml>caption</xml>"
HUGE = 10**40


def _error(r, status: int, code: str | None = None) -> None:
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text[:300])
    err = r.json()["error"]
    assert err["message"] and (code is None or err["code"] == code), r.text


async def test_every_json_operation_answers_400_to_broken_bodies(client_from):
    c = client_from()
    spec = (await c.get("/openapi.json")).json()
    ops = [
        (method.upper(), re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path))
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if "application/json" in (op.get("requestBody") or {}).get("content", {})
    ] + [("POST", "/graphql")]
    assert len(ops) > 30
    fives = []
    for i, (method, path) in enumerate(ops):
        if i % 10 == 0:  # each request counts against RATE_LIMIT_WRITE (60/1m): a new attacker every 40
            c = client_from()
            auth, _ = await account(c)
        for body in (NOT_UTF8, NOT_JSON, b"", b"\x00\x00\x00"):
            r = await c.request(method, path, content=body, headers={**auth, "Content-Type": "application/json"})
            if r.status_code >= 500 or (
                path.startswith(("/posts", "/auth/", "/interactions/")) and r.status_code != 400
            ):
                fives.append((method, path, body[:10], r.status_code))
            elif not path.startswith("/admin"):  # admin routes: 403 before reading the body
                _error(r, 400, "bad_request")
    assert not fives, fives


async def test_nul_bytes_are_refused_not_stored(client_from):
    c = client_from()
    auth, _ = await account(c)
    _error(await c.post("/posts", json={"caption": "\x00"}, headers=auth), 400, "validation_error")
    post = await c.post("/posts", json={"caption": "fine"}, headers=auth)
    assert post.status_code == 201, post.text
    comment = {"post_id": post.json()["id"], "body": "nul\x00here"}
    _error(await c.post("/interactions/comments", json=comment, headers=auth), 400, "validation_error")
    r = await c.post(
        "/graphql",
        json={
            "query": "mutation($c: String!) { createPost(input: {caption: $c}) { id } }",
            "variables": {"c": "a\x00"},
        },
        headers=auth,
    )
    assert r.status_code < 500
    assert r.json()["errors"][0]["extensions"]["code"] == "validation_error", r.text


async def test_huge_numbers_are_4xx(client_from):
    c = client_from()
    auth, me = await account(c)
    tip = {"to_user_id": me, "amount": HUGE}
    _error(await c.post("/wallets/tips", json=tip, headers=auth), 422, "validation_error")
    infinite = b'{"to_user_id": "%s", "amount": 1e999}' % me.encode()
    r = await c.post("/wallets/tips", content=infinite, headers={**auth, "Content-Type": "application/json"})
    _error(r, 400, "bad_request")  # JSON holds no infinity
    r = await c.get(f"/users/{me}/followers", params={"limit": str(HUGE)}, headers=auth)
    assert 400 <= r.status_code < 500, r.text
    r = await c.post(
        "/graphql",
        json={"query": "query($n: Int!) { homeFeed(limit: $n) { items { id } } }", "variables": {"n": HUGE}},
        headers=auth,
    )
    assert r.status_code < 500 and r.json()["errors"], r.text
    r = await c.post("/media/upload", headers={**auth, "Tus-Resumable": "1.0.0", "Upload-Length": str(HUGE)})
    assert 400 <= r.status_code < 500 and r.json()["error"]["code"], r.text
