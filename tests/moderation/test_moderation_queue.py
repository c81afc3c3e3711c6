"""The moderators' queue: NSFW cases opened the way the agent opens them (models/moderation/cases.apply_verdict
with made-up scores), worked over REST and GraphQL against the real API; decisions reach the
owner's websocket, post visibility, the audit log and the broker; upheld reports hide videos."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import urlparse
from uuid import UUID, uuid4

import orjson
import websockets
from sqlalchemy import insert, select

from ml.nsfw import judge
from models.content import post_videos
from models.core.audit import AuditLog
from models.core.base import utcnow
from models.core.events import new_id
from models.core.topics import MODERATION_CASES
from models.media import videos
from models.moderation import cases
from tests.support.broker import collect
from tests.support.factories import admin_user, moderator_user, register, report

SCORES = {"publish": [0.01, 0.02, 0.1], "review": [0.01, 0.6, 0.1], "reject": [0.97, 0.99, 0.95, 0.1]}


moderator = moderator_user


async def posted_video(client, svc, env: dict, owner: dict, verdict: str) -> dict:
    """A transcoded video (thumbnail in the local store) on a public post of `owner`, then the
    NSFW verdict from made-up scores, applied as the agent applies it."""
    video_id = new_id()
    thumb_key = f"videos/{video_id}/x/thumbnail.jpg"
    thumb = b"\xff\xd8\xff" + os.urandom(64) + b"\xff\xd9"
    path = Path(env["MEDIA_DIR"]) / thumb_key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(thumb)
    async with svc.sessions() as s, s.begin():
        await s.execute(
            insert(videos.Video).values(
                id=video_id,
                owner_id=UUID(owner["user"]["id"]),
                status="processing",
                progress=95,
                size=1,
                received=1,
                upload_metadata={},
                renditions=["240p"],
                playlist_key=f"videos/{video_id}/x/master.m3u8",
                thumbnail_key=thumb_key,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    r = await client.post("/posts", json={"caption": "clip", "video_id": str(video_id)}, headers=owner["headers"])
    assert r.status_code == 201, r.text
    v = judge(SCORES[verdict], review_at=0.5, reject_at=0.85)
    assert v.decision == verdict
    await cases.apply_verdict(svc, video_id, v)
    return {"video_id": str(video_id), "post_id": r.json()["id"], "thumb": thumb, "score": v.score}


async def open_cases(client, mod: dict, limit: int = 100) -> list[dict]:
    """The whole open queue, page by page."""
    items, cursor = [], None
    while True:
        params = {"status": "open", "limit": limit, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/admin/moderation/cases", params=params, headers=mod["headers"])
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


def case_of(items: list[dict], video_id: str) -> dict:
    return next(c for c in items if c["video_id"] == video_id)


async def owner_socket(api: str, svc, owner: dict):
    """A websocket of the owner whose `user:<id>` subscription is live: a probe published on the
    channel has come back through it."""
    ws = await websockets.connect(api.replace("http", "ws") + f"/ws?token={owner['access_token']}")
    assert orjson.loads(await ws.recv())["type"] == "authenticated"
    probe = orjson.dumps({"type": "probe"})
    while True:
        await svc.redis.publish(videos.user_channel(UUID(owner["user"]["id"])), probe)
        try:
            if orjson.loads(await asyncio.wait_for(ws.recv(), 0.2))["type"] == "probe":
                return ws
        except TimeoutError:
            continue


async def pushed_status(ws, video_id: str) -> dict:
    while True:
        msg = orjson.loads(await asyncio.wait_for(ws.recv(), 15))
        if msg.get("type") == "media.status" and msg["video_id"] == video_id:
            return msg


async def test_only_staff_work_the_queue(client, stack_env):
    user = await register(client)
    case_id = str(uuid4())
    calls = [
        client.get("/admin/moderation/cases", headers=user["headers"]),
        client.post(f"/admin/moderation/cases/{case_id}/decide", json={"decision": "approve"}, headers=user["headers"]),
    ]
    for call in calls:
        r = await call
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden_role"), r.text
    r = await client.get("/admin/moderation/cases")
    assert r.status_code == 401
    r = await client.post("/graphql", headers=user["headers"], json={"query": "{ moderationCases { items { id } } }"})
    assert r.json()["errors"][0]["extensions"]["code"] == "forbidden_role"
    r = await client.post(
        "/graphql",
        headers=user["headers"],
        json={"query": f'mutation {{ decideModerationCase(id: "{case_id}", decision: APPROVE) {{ id }} }}'},
    )
    assert r.json()["errors"][0]["extensions"]["code"] == "forbidden_role"


async def test_approve_publishes_the_post_pushes_ready_and_is_audited(client, svc, api, stack_env):
    mod, owner, other = await moderator(client, stack_env), await register(client), await register(client)
    v = await posted_video(client, svc, stack_env, owner, "review")
    hidden = await client.get(f"/posts/{v['post_id']}", headers=other["headers"])
    assert hidden.status_code == 404  # in review: only the owner sees it

    case = case_of(await open_cases(client, mod), v["video_id"])
    assert {
        k: case[k]
        for k in (
            "status",
            "owner_id",
            "post_id",
            "video_status",
            "video_reason",
            "automatic_decision",
            "decision",
            "decided_by",
            "kind",
        )
    } == {
        "status": "open",
        "owner_id": owner["user"]["id"],
        "post_id": v["post_id"],
        "video_status": "in_review",
        "video_reason": "nsfw_review",
        "automatic_decision": "review",
        "decision": None,
        "decided_by": None,
        "kind": "nsfw",
    }
    assert case["score"] == v["score"] and case["frames"] == 3
    # the thumbnail opens without an Authorization header, by its signed link only
    url = urlparse(case["thumbnail_url"])
    assert url.path == f"/admin/moderation/cases/{case['id']}/thumbnail.jpg" and url.query.startswith("t=")
    thumb = await client.get(case["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.content == v["thumb"]
    assert thumb.headers["content-type"] == "image/jpeg"
    assert (await client.get(url.path)).status_code == 404
    assert (await client.get(f"{url.path}?{url.query[:-4]}AAAA")).status_code == 404
    # a token for the case opens the case's thumbnail, not the video's files
    assert (await client.get(f"/media/{v['video_id']}/thumbnail.jpg?{url.query}")).status_code == 404

    ws = await owner_socket(api, svc, owner)
    try:
        note = "beach scene, fine " + uuid4().hex
        r = await client.post(
            f"/admin/moderation/cases/{case['id']}/decide",
            json={"decision": "approve", "note": note},
            headers=mod["headers"],
        )
        assert r.status_code == 200, r.text
        decided = r.json()
        assert (
            decided["status"],
            decided["decision"],
            decided["decided_by"],
            decided["video_status"],
            decided["note"],
        ) == ("closed", "approve", mod["user"]["id"], "ready", note)
        pushed = await pushed_status(ws, v["video_id"])
        assert (pushed["status"], pushed["reason"]) == ("ready", None)
    finally:
        await ws.close()

    assert (await client.get(f"/posts/{v['post_id']}", headers=other["headers"])).status_code == 200
    seen = await client.get(f"/media/{v['video_id']}/status", headers=other["headers"])
    assert seen.status_code == 200 and seen.json()["status"] == "ready"

    # deciding again, either way, is refused
    for decision in ("approve", "reject"):
        again = await client.post(
            f"/admin/moderation/cases/{case['id']}/decide", json={"decision": decision}, headers=mod["headers"]
        )
        assert (again.status_code, again.json()["error"]["code"]) == (409, "case_closed")
    assert all(c["id"] != case["id"] for c in await open_cases(client, mod))
    closed = (
        await client.get("/admin/moderation/cases", params={"status": "closed", "limit": 100}, headers=mod["headers"])
    ).json()["items"]
    assert case_of(closed, v["video_id"])["decision"] == "approve"

    # one audit row: who, which case and video, what; never the note
    async with svc.sessions() as s:
        rows = (
            (await s.execute(select(AuditLog).where(AuditLog.subject == f"moderation_case:{case['id']}")))
            .scalars()
            .all()
        )
    assert len(rows) == 1
    row = rows[0]
    assert (row.action, str(row.actor_user_id)) == ("moderation.case_decided", mod["user"]["id"])
    assert row.details == {"video_id": v["video_id"], "kind": "nsfw", "decision": "approve", "video_status": "ready"}
    assert row.ip and row.at is not None
    assert note not in orjson.dumps({c.name: str(getattr(row, c.key)) for c in AuditLog.__table__.columns}).decode()

    events = await collect(
        stack_env["KAFKA_BOOTSTRAP"],
        MODERATION_CASES.name,
        lambda evs: any(e["payload"]["case_id"] == case["id"] for e in evs),
    )
    event = next(e for e in events if e["payload"]["case_id"] == case["id"])
    assert event["type"] == "moderation.case_decided" and event["actor"] == mod["user"]["id"]
    assert event["payload"] == {
        "case_id": case["id"],
        "video_id": v["video_id"],
        "owner_id": owner["user"]["id"],
        "kind": "nsfw",
        "decision": "approve",
        "video_status": "ready",
    }


async def test_reject_hides_and_approve_overrides_an_automatic_hide(client, svc, stack_env):
    mod, owner, other = await moderator(client, stack_env), await register(client), await register(client)
    held = await posted_video(client, svc, stack_env, owner, "review")
    auto_hidden = await posted_video(client, svc, stack_env, owner, "reject")
    queue = await open_cases(client, mod)
    held_case, hidden_case = case_of(queue, held["video_id"]), case_of(queue, auto_hidden["video_id"])
    assert (hidden_case["automatic_decision"], hidden_case["video_status"]) == ("reject", "rejected")
    # the classifier's hide still has a thumbnail a moderator can open
    assert (await client.get(hidden_case["thumbnail_url"])).content == auto_hidden["thumb"]

    r = await client.post(
        f"/admin/moderation/cases/{held_case['id']}/decide", json={"decision": "reject"}, headers=mod["headers"]
    )
    assert r.status_code == 200 and (r.json()["video_status"], r.json()["video_reason"]) == (
        "rejected",
        "moderator_rejected",
    )
    st = (await client.get(f"/media/{held['video_id']}/status", headers=owner["headers"])).json()
    assert (st["status"], st["reason"], st["playback_url"]) == ("rejected", "moderator_rejected", None)
    assert (await client.get(f"/posts/{held['post_id']}", headers=other["headers"])).status_code == 404

    r = await client.post(
        f"/admin/moderation/cases/{hidden_case['id']}/decide", json={"decision": "approve"}, headers=mod["headers"]
    )
    assert r.status_code == 200 and r.json()["video_status"] == "ready"
    assert (await client.get(f"/posts/{auto_hidden['post_id']}", headers=other["headers"])).status_code == 200


async def test_queue_order_pages_and_bad_input(client, svc, stack_env):
    mod, owner = await moderator(client, stack_env), await register(client)
    mine = [(await posted_video(client, svc, stack_env, owner, "review"))["video_id"] for _ in range(3)]
    published = await posted_video(client, svc, stack_env, owner, "publish")
    queue = await open_cases(client, mod, limit=1)  # one per page: every cursor is used
    assert [c["video_id"] for c in queue if c["video_id"] in mine] == mine  # oldest first
    assert all(c["video_id"] != published["video_id"] for c in queue)  # published: no case
    assert len({c["id"] for c in queue}) == len(queue)
    opened = [c["opened_at"] for c in queue]
    assert opened == sorted(opened)

    cases = [
        (client.get("/admin/moderation/cases", params={"cursor": "!!"}, headers=mod["headers"]), 400, "invalid_cursor"),
        (
            client.get("/admin/moderation/cases", params={"status": "maybe"}, headers=mod["headers"]),
            422,
            "validation_error",
        ),
        (client.get("/admin/moderation/cases", params={"limit": 0}, headers=mod["headers"]), 422, "validation_error"),
        (
            client.post(
                f"/admin/moderation/cases/{uuid4()}/decide", json={"decision": "approve"}, headers=mod["headers"]
            ),
            404,
            "case_not_found",
        ),
        (
            client.post("/admin/moderation/cases/nope/decide", json={"decision": "approve"}, headers=mod["headers"]),
            400,
            "invalid_id",
        ),
        (
            client.post(
                f"/admin/moderation/cases/{queue[0]['id']}/decide", json={"decision": "maybe"}, headers=mod["headers"]
            ),
            422,
            "validation_error",
        ),
        (
            client.post(
                f"/admin/moderation/cases/{queue[0]['id']}/decide",
                json={"decision": "approve", "note": "x" * 501},
                headers=mod["headers"],
            ),
            422,
            "validation_error",
        ),
        (client.get(f"/admin/moderation/cases/{queue[0]['id']}/thumbnail.jpg?t=1.x"), 404, "case_not_found"),
    ]
    for call, status, code in cases:
        r = await call
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    # an open-queue cursor is not a closed-list cursor
    first = (await client.get("/admin/moderation/cases", params={"limit": 1}, headers=mod["headers"])).json()
    r = await client.get(
        "/admin/moderation/cases", params={"status": "closed", "cursor": first["next_cursor"]}, headers=mod["headers"]
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"


async def test_an_upheld_report_hides_the_posts_video(client, svc, stack_env):
    mod, owner = await moderator(client, stack_env), await register(client)
    reporter, other = await register(client), await register(client)
    admin = await admin_user(client, stack_env)
    shown = await posted_video(client, svc, stack_env, owner, "publish")
    kept = await posted_video(client, svc, stack_env, owner, "publish")
    for v, outcome in ((shown, "upheld"), (kept, "dismissed")):
        rid = (await report(client, reporter, "post", v["post_id"], "explicit")).json()["id"]
        r = await client.post(f"/admin/reports/{rid}/resolve", json={"outcome": outcome}, headers=admin["headers"])
        assert r.status_code == 200 and r.json()["status"] == outcome
        v["report_id"] = rid
    st = (await client.get(f"/media/{shown['video_id']}/status", headers=owner["headers"])).json()
    assert (st["status"], st["reason"]) == ("rejected", "report_upheld")
    assert (await client.get(f"/posts/{shown['post_id']}", headers=other["headers"])).status_code == 404
    assert (await client.get(f"/posts/{kept['post_id']}", headers=other["headers"])).status_code == 200
    async with svc.sessions() as s:
        details = (
            await s.execute(
                select(AuditLog.details).where(
                    AuditLog.subject == f"report:{shown['report_id']}", AuditLog.action == "report.resolved"
                )
            )
        ).scalar_one()
    assert details == {"outcome": "upheld", "hidden_video_id": shown["video_id"]}

    # a video hidden by an upheld report stays hidden whatever its NSFW case decides (through the API
    # a post in review is invisible to reporters, so the hide is made by the domain function itself)
    held = await posted_video(client, svc, stack_env, owner, "review")
    async with svc.sessions() as s, s.begin():
        hidden = await post_videos.hide_post_video(s, UUID(held["post_id"]), "report_upheld")
    assert hidden is not None and hidden.status == "rejected"
    case = case_of(await open_cases(client, mod), held["video_id"])
    r = await client.post(
        f"/admin/moderation/cases/{case['id']}/decide", json={"decision": "approve"}, headers=mod["headers"]
    )
    assert r.status_code == 200 and (r.json()["status"], r.json()["video_status"], r.json()["video_reason"]) == (
        "closed",
        "rejected",
        "report_upheld",
    )
    assert (await client.get(f"/posts/{held['post_id']}", headers=other["headers"])).status_code == 404


async def test_graphql_face(client, svc, stack_env):
    mod, owner = await moderator(client, stack_env), await register(client)
    v = await posted_video(client, svc, stack_env, owner, "review")

    async def gql(query, **variables):
        return (
            await client.post("/graphql", headers=mod["headers"], json={"query": query, "variables": variables})
        ).json()

    items, cursor = [], None
    while True:
        page = (
            await gql(
                """query($c: String) { moderationCases(status: OPEN, limit: 100, cursor: $c) {
            items { id videoId ownerId postId status videoStatus automaticDecision score thumbnailUrl decision }
            nextCursor } }""",
                c=cursor,
            )
        )["data"]["moderationCases"]
        items += page["items"]
        if not (cursor := page["nextCursor"]):
            break
    case = next(c for c in items if c["videoId"] == v["video_id"])
    assert {k: case[k] for k in ("ownerId", "postId", "status", "videoStatus", "automaticDecision", "decision")} == {
        "ownerId": owner["user"]["id"],
        "postId": v["post_id"],
        "status": "OPEN",
        "videoStatus": "IN_REVIEW",
        "automaticDecision": "REVIEW",
        "decision": None,
    }
    assert (await client.get(case["thumbnailUrl"])).content == v["thumb"]

    decide = """mutation($id: ID!) { decideModerationCase(id: $id, decision: REJECT, note: "nope") {
        status decision decidedBy videoStatus videoReason note closedAt } }"""
    done = (await gql(decide, id=case["id"]))["data"]["decideModerationCase"]
    assert {k: v for k, v in done.items() if k != "closedAt"} == {
        "status": "CLOSED",
        "decision": "REJECT",
        "decidedBy": mod["user"]["id"],
        "videoStatus": "REJECTED",
        "videoReason": "moderator_rejected",
        "note": "nope",
    }
    assert done["closedAt"]
    assert (await gql(decide, id=case["id"]))["errors"][0]["extensions"]["code"] == "case_closed"
    r = await gql('{ moderationCases(cursor: "!!") { items { id } } }')
    assert r["errors"][0]["extensions"]["code"] == "invalid_cursor"


async def test_a_moderator_cannot_decide_a_case_about_their_own_video(client, svc, stack_env):
    mod, other = await moderator(client, stack_env), await moderator(client, stack_env)
    v = await posted_video(client, svc, stack_env, mod, "review")
    case = case_of(await open_cases(client, other), v["video_id"])
    r = await client.post(
        f"/admin/moderation/cases/{case['id']}/decide", json={"decision": "approve"}, headers=mod["headers"]
    )
    assert (r.status_code, r.json()["error"]["code"]) == (403, "case_about_you"), r.text
    g = await client.post(
        "/graphql",
        headers=mod["headers"],
        json={"query": f'mutation {{ decideModerationCase(id: "{case["id"]}", decision: APPROVE) {{ id }} }}'},
    )
    assert g.json()["errors"][0]["extensions"]["code"] == "case_about_you"
    r = await client.post(
        f"/admin/moderation/cases/{case['id']}/decide", json={"decision": "approve"}, headers=other["headers"]
    )
    assert r.status_code == 200 and r.json()["decided_by"] == other["user"]["id"]
