"""Comments through the API: threading, edit/delete rules, mentions, keyset pagination, visibility,
blocks, bad inputs, the outbox event and the counter."""

from __future__ import annotations

import uuid

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from tests.support.factories import create_post, register
from tests.support.waiting import equals, wait_for

MISSING = str(uuid.UUID(int=0))


async def comment(client, user, post_id, body="nice", parent_id=None, status=201):
    body_json = {"post_id": post_id, "body": body}
    if parent_id:
        body_json["parent_id"] = parent_id
    r = await client.post("/interactions/comments", json=body_json, headers=user["headers"])
    assert r.status_code == status, r.text
    return r.json()


async def test_threaded_replies_and_reply_counts(client):
    author, a, b = await register(client), await register(client), await register(client)
    post = await create_post(client, author)
    top = await comment(client, a, post, "first!")
    assert top["parent_id"] is None and top["reply_count"] == 0 and top["post_id"] == post
    r1 = await comment(client, b, post, "reply one", parent_id=top["id"])
    r2 = await comment(client, a, post, "reply two", parent_id=top["id"])
    nested = await comment(client, author, post, "deeper", parent_id=r1["id"])
    assert r1["parent_id"] == top["id"] and nested["parent_id"] == r1["id"]

    listed = (await client.get(f"/posts/{post}/comments", headers=b["headers"])).json()
    assert [c["id"] for c in listed["items"]] == [top["id"]]  # replies are not top-level
    assert listed["items"][0]["reply_count"] == 2 and listed["next_cursor"] is None
    replies = (await client.get(f"/interactions/comments/{top['id']}/replies", headers=b["headers"])).json()
    assert [c["id"] for c in replies["items"]] == [r1["id"], r2["id"]]  # oldest first
    assert replies["items"][0]["reply_count"] == 1


async def test_reply_to_a_comment_of_another_post_is_rejected(client):
    author, a = await register(client), await register(client)
    p1, p2 = await create_post(client, author), await create_post(client, author)
    top = await comment(client, a, p1)
    r = await client.post(
        "/interactions/comments", json={"post_id": p2, "body": "x", "parent_id": top["id"]}, headers=a["headers"]
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "parent_on_other_post"
    r = await client.post(
        "/interactions/comments", json={"post_id": p1, "body": "x", "parent_id": MISSING}, headers=a["headers"]
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "comment_not_found"


async def test_edit_and_delete_own_only_and_post_author_deletes_any(client):
    author, a, b = await register(client), await register(client), await register(client)
    post = await create_post(client, author)
    mine = await comment(client, a, post, "typo")
    r = await client.patch(f"/interactions/comments/{mine['id']}", json={"body": "fixed"}, headers=a["headers"])
    assert r.status_code == 200 and r.json()["body"] == "fixed" and r.json()["edited_at"]
    r = await client.patch(f"/interactions/comments/{mine['id']}", json={"body": "hijack"}, headers=b["headers"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_comment_author"
    r = await client.patch(f"/interactions/comments/{mine['id']}", json={"body": "x"}, headers=author["headers"])
    assert r.status_code == 403  # the post's author may delete, not edit
    r = await client.delete(f"/interactions/comments/{mine['id']}", headers=b["headers"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_comment_author"

    reply = await comment(client, b, post, "a reply", parent_id=mine["id"])
    r = await client.delete(f"/interactions/comments/{mine['id']}", headers=author["headers"])
    assert r.status_code == 200 and r.json() == {"deleted": 2}  # with its reply
    for cid in (mine["id"], reply["id"]):
        r = await client.get(f"/interactions/comments/{cid}/replies", headers=a["headers"])
        assert r.status_code == 404 and r.json()["error"]["code"] == "comment_not_found"
    own = await comment(client, b, post, "mine to delete")
    assert (await client.delete(f"/interactions/comments/{own['id']}", headers=b["headers"])).json() == {"deleted": 1}
    listed = (await client.get(f"/posts/{post}/comments", headers=a["headers"])).json()
    assert listed["items"] == []


async def test_mentions_are_resolved_and_carried_by_the_event(client, stack_env):
    author, a = await register(client), await register(client)
    named1, named2 = await register(client), await register(client)
    post = await create_post(client, author)
    body = (
        f"hey @{named1['user']['username'].upper()} and @{named2['user']['username']}, "
        f"not @nobody_like_this or mail@{named1['user']['username']}.com, again @{named1['user']['username']}"
    )
    c = await comment(client, a, post, body)
    assert c["mentions"] == [named1["user"]["id"], named2["user"]["id"]]
    edited = (
        await client.patch(
            f"/interactions/comments/{c['id']}",
            json={"body": f"only @{named2['user']['username']}"},
            headers=a["headers"],
        )
    ).json()
    assert edited["mentions"] == [named2["user"]["id"]]

    events = await wait_for(lambda: _comment_events(stack_env, c["id"], 2), timeout=20, what="comment events")
    created, edit = events
    assert created["type"] == "comment.created" and edit["type"] == "comment.edited"
    assert created["payload"]["mentions"] == [named1["user"]["id"], named2["user"]["id"]]
    assert created["payload"]["post_author_id"] == author["user"]["id"]
    assert edit["payload"]["mentions"] == [named2["user"]["id"]] and edit["payload"]["new_mentions"] == []


async def _comment_events(env, comment_id: str, n: int) -> list[dict] | None:
    consumer = AIOKafkaConsumer(
        "interactions.comments",
        bootstrap_servers=env["KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found = []
        while batch := await consumer.getmany(timeout_ms=500):
            for recs in batch.values():
                for rec in recs:
                    ev = orjson.loads(rec.value)
                    if ev["payload"].get("comment_id") == comment_id:
                        found.append(ev)
        return found if len(found) >= n else None
    finally:
        await consumer.stop()


async def test_pagination_is_stable_under_inserts_between_pages(client):
    author, a = await register(client), await register(client)
    post = await create_post(client, author)
    first = [(await comment(client, a, post, f"c{i}"))["id"] for i in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"/posts/{post}/comments", params=params, headers=a["headers"])).json()
        seen += [c["id"] for c in page["items"]]
        pages += 1
        await comment(client, a, post, f"inserted after page {pages}")  # arrives between pages
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(first))  # newest first, each once, none skipped, no newcomers
    assert pages == 3

    top = first[0]
    replies = [(await comment(client, a, post, f"r{i}", parent_id=top))["id"] for i in range(5)]
    page1 = (
        await client.get(f"/interactions/comments/{top}/replies", params={"limit": 2}, headers=a["headers"])
    ).json()
    late = (await comment(client, a, post, "late reply", parent_id=top))["id"]
    rest, cursor = [], page1["next_cursor"]
    while cursor:
        page = (
            await client.get(
                f"/interactions/comments/{top}/replies", params={"limit": 2, "cursor": cursor}, headers=a["headers"]
            )
        ).json()
        rest += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
    # oldest first: a reply written meanwhile comes at the end, after all earlier ones
    assert [c["id"] for c in page1["items"]] + rest == replies + [late]


async def test_invisible_post_is_404_for_comments(client):
    author, stranger = await register(client), await register(client)
    r = await client.post(
        "/posts", json={"caption": "friends only", "visibility": "followers"}, headers=author["headers"]
    )
    assert r.status_code == 201, r.text
    post = r.json()["id"]
    own = await comment(client, author, post, "my own post")
    r = await client.post("/interactions/comments", json={"post_id": post, "body": "hi"}, headers=stranger["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "post_not_found"
    r = await client.get(f"/posts/{post}/comments", headers=stranger["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "post_not_found"
    r = await client.get(f"/interactions/comments/{own['id']}/replies", headers=stranger["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "comment_not_found"
    r = await client.delete(f"/interactions/comments/{own['id']}", headers=stranger["headers"])
    assert r.status_code == 404
    assert (await client.get(f"/posts/{post}/comments", headers=author["headers"])).status_code == 200


async def test_blocks_stop_comments(client):
    author, a, b = await register(client), await register(client), await register(client)
    post = await create_post(client, author)
    top = await comment(client, a, post, "a's comment")
    # a blocks b: b may still comment on the post, but not reply to a
    assert (await client.post(f"/users/{b['user']['id']}/block", headers=a["headers"])).status_code == 204
    await comment(client, b, post, "b on the post")
    r = await client.post(
        "/interactions/comments", json={"post_id": post, "body": "hi", "parent_id": top["id"]}, headers=b["headers"]
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "blocked"
    # the post's author blocks b: the post no longer exists for b
    assert (await client.post(f"/users/{b['user']['id']}/block", headers=author["headers"])).status_code == 204
    r = await client.post("/interactions/comments", json={"post_id": post, "body": "hi"}, headers=b["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "post_not_found"


async def test_comments_are_counted_once(client, worker):
    author, a = await register(client), await register(client)
    post = await create_post(client, author)
    ids = [(await comment(client, a, post, f"c{i}"))["id"] for i in range(3)]
    await comment(client, a, post, "reply", parent_id=ids[0])

    async def comments_count():
        return (await client.get(f"/posts/{post}/counters", headers=a["headers"])).json()["comments"]

    await wait_for(lambda: equals(comments_count(), 4), timeout=20, what="4 comments counted")
    await client.delete(f"/interactions/comments/{ids[0]}", headers=a["headers"])  # and its reply
    await wait_for(lambda: equals(comments_count(), 2), timeout=20, what="2 comments after delete")


BAD = [
    ({"post_id": "{post}", "body": "   "}, 400, "empty_comment"),
    ({"post_id": "{post}", "body": "x" * 2201}, 400, "comment_too_long"),
    ({"post_id": "{post}", "body": "x" * 20_001}, 422, "validation_error"),
    ({"post_id": "{post}"}, 422, "validation_error"),
    ({"post_id": "nope", "body": "x"}, 422, "validation_error"),
    ({"post_id": "{post}", "body": "x", "parent_id": "nope"}, 422, "validation_error"),
    ({"post_id": "{post}", "body": "x", "extra": 1}, 422, "validation_error"),
    ({"post_id": MISSING, "body": "x"}, 404, "post_not_found"),
    ({"post_id": "{post}", "body": " ".join(f"@user{i:03d}" for i in range(21))}, 400, "too_many_mentions"),
]


@pytest.mark.parametrize("body,status,code", BAD, ids=[b[2] + str(i) for i, b in enumerate(BAD)])
async def test_bad_comment_inputs(client, body, status, code):
    user = await register(client)
    post = await create_post(client, user)
    payload = {k: v.replace("{post}", post) if isinstance(v, str) else v for k, v in body.items()}
    r = await client.post("/interactions/comments", json=payload, headers=user["headers"])
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


async def test_bad_paths_and_cursors(client):
    user = await register(client)
    post = await create_post(client, user)
    cases = [
        ("GET", f"/posts/{post}/comments?cursor=abc", 400, "invalid_cursor"),
        ("GET", f"/posts/{post}/comments?limit=0", 422, "validation_error"),
        ("GET", "/posts/nope/comments", 400, "invalid_id"),
        ("GET", f"/interactions/comments/{MISSING}/replies", 404, "comment_not_found"),
        ("PATCH", "/interactions/comments/nope", 400, "invalid_id"),
        ("DELETE", f"/interactions/comments/{MISSING}", 404, "comment_not_found"),
    ]
    for method, path, status, code in cases:
        kwargs = {"json": {"body": "x"}} if method == "PATCH" else {}
        r = await client.request(method, path, headers=user["headers"], **kwargs)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (method, path, r.text)
    anon = await client.post("/interactions/comments", json={"post_id": post, "body": "x"})
    assert anon.status_code == 401


async def test_graphql_comments(client):
    author, a = await register(client), await register(client)
    post = await create_post(client, author)

    async def gql(query, user=a):
        return (await client.post("/graphql", json={"query": query}, headers=user["headers"])).json()

    made = await gql(
        f'mutation {{ addComment(input: {{postId: "{post}", body: "via gql @{author["user"]["username"]}"}}) '
        f"{{ id body mentions replyCount }} }}"
    )
    c = made["data"]["addComment"]
    assert c["mentions"] == [author["user"]["id"]] and c["replyCount"] == 0
    await gql(f'mutation {{ addComment(input: {{postId: "{post}", body: "re", parentId: "{c["id"]}"}}) {{ id }} }}')
    listed = await gql(f'{{ comments(postId: "{post}") {{ items {{ id replyCount }} nextCursor }} }}')
    assert listed["data"]["comments"] == {"items": [{"id": c["id"], "replyCount": 1}], "nextCursor": None}
    replies = await gql(f'{{ commentReplies(commentId: "{c["id"]}") {{ items {{ body }} }} }}')
    assert replies["data"]["commentReplies"]["items"] == [{"body": "re"}]
    denied = await gql(f'mutation {{ editComment(id: "{c["id"]}", body: "x") {{ id }} }}', user=author)
    assert denied["errors"][0]["extensions"]["code"] == "not_comment_author"
    assert (await gql(f'mutation {{ deleteComment(id: "{c["id"]}") }}', user=author))["data"]["deleteComment"] == 2
    empty = await gql(f'mutation {{ addComment(input: {{postId: "{post}", body: " "}}) {{ id }} }}')
    assert empty["errors"][0]["extensions"]["code"] == "empty_comment"
