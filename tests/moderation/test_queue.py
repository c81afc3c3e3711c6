"""The one moderation queue against the real stack: reports on anything, one case per target,
claims, content decisions (dismiss, remove, restore), appeals (uphold, overturn), the user's
history and notification, quarantined media and their purge."""

from __future__ import annotations

from uuid import UUID, uuid4

from sqlalchemy import select

from infra.storage import storage_for
from models.core.audit import AuditLog
from models.moderation import quarantine
from models.moderation.quarantine import QuarantinedMedia
from tests.support.client import code, code_of, gql
from tests.support.factories import create_post, moderator_user, register, report
from tests.support.videos import video_with_files
from tests.support.waiting import equals, wait_for


async def mod_report(client, user: dict, target_type: str, target_id: str, reason: str = "spam", **extra):
    body = {"target_type": target_type, "target_id": target_id, "reason": reason, **extra}
    return await client.post("/moderation/report", json=body, headers=user["headers"])


async def case_for(client, mod: dict, target_id: str) -> dict:
    """The target's case, found in the whole queue (every state), page by page."""
    for state in ("open", "claimed", "appealed", "decided"):
        cursor = None
        while True:
            params = {"state": state, "limit": 100, **({"cursor": cursor} if cursor else {})}
            r = await client.get("/moderation/queue", params=params, headers=mod["headers"])
            assert r.status_code == 200, r.text
            for c in r.json()["items"]:
                if c["target_id"] == target_id:
                    return c
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
    raise AssertionError(f"no case for {target_id}")


async def decide(client, mod: dict, case_id: str, action: str, reason: str = "breaks the rules", **extra):
    return await client.post(
        f"/moderation/cases/{case_id}/decisions",
        json={"action": action, "reason": reason, **extra},
        headers=mod["headers"],
    )


async def thread(client, user: dict, post_id: str) -> list[str]:
    r = await client.get(f"/posts/{post_id}/comments", headers=user["headers"])
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["items"]]


async def test_reports_on_anything_make_one_case_per_target(client, stack_env):
    mod = await moderator_user(client, stack_env)
    author, a, b, stranger = [await register(client) for _ in range(4)]
    post_id = await create_post(client, author, caption="buy followers")
    # two reporters of the post: one case, both reasons, two reports
    r1, r2 = await mod_report(client, a, "post", post_id, "spam"), await mod_report(client, b, "post", post_id, "hate")
    assert r1.status_code == 201 and r2.status_code == 201, r2.text
    assert r1.json()["case_id"] == r2.json()["case_id"] and r1.json()["target_user_id"] == author["user"]["id"]
    case = await case_for(client, mod, post_id)
    assert case["id"] == r1.json()["case_id"]
    assert (case["target_type"], case["report_count"], sorted(case["reasons"]), case["state"]) == (
        "post",
        2,
        ["hate", "spam"],
        "open",
    )
    # a comment, a message (its recipient reports it) and a user
    c = await client.post(
        "/interactions/comments", json={"post_id": post_id, "body": "rude"}, headers=author["headers"]
    )
    m = await client.post(
        "/interactions/messages", json={"to_user_id": a["user"]["id"], "body": "rude dm"}, headers=author["headers"]
    )
    assert c.status_code == 201 and m.status_code == 201, m.text
    for kind, tid in (("comment", c.json()["id"]), ("message", m.json()["id"]), ("user", author["user"]["id"])):
        r = await mod_report(client, a, kind, tid, "harassment", details="see this")
        assert r.status_code == 201 and r.json()["target_type"] == kind, r.text
        assert (await case_for(client, mod, tid))["target_type"] == kind
    # the old /reports raises a case too (its free text files under "other")
    assert (await report(client, b, "user", author["user"]["id"], "impersonation")).status_code == 201
    assert "other" in (await case_for(client, mod, author["user"]["id"]))["reasons"]

    bad = [
        (mod_report(client, a, "post", post_id, "spam"), 409, "report_exists"),
        (mod_report(client, b, "post", post_id, "not-a-reason"), 400, "invalid_reason"),
        (mod_report(client, author, "post", post_id), 400, "cannot_report_self"),
        (mod_report(client, stranger, "message", m.json()["id"]), 404, "message_not_found"),  # not theirs to see
        (mod_report(client, a, "post", str(uuid4())), 404, "post_not_found"),
        (mod_report(client, a, "comment", str(uuid4())), 404, "comment_not_found"),
        (mod_report(client, a, "video", str(uuid4())), 422, "validation_error"),
    ]
    for call, status, error in bad:
        assert code(await call) == (status, error)
    # staff routes do not reveal themselves; the old aliases keep their 403
    assert code(await client.get("/moderation/queue", headers=a["headers"])) == (404, "case_not_found")
    assert code(await client.get(f"/moderation/cases/{case['id']}", headers=a["headers"])) == (404, "case_not_found")
    assert code(await decide(client, a, case["id"], "dismiss")) == (404, "case_not_found")
    assert code(await client.get("/admin/reports", headers=a["headers"])) == (403, "forbidden_role")
    assert code(await client.get("/admin/moderation/cases", headers=a["headers"])) == (403, "forbidden_role")
    answer = await gql(
        client, a, 'mutation($id: ID!) { decideCase(id: $id, action: DISMISS, reason: "x") { id } }', {"id": case["id"]}
    )
    assert answer["errors"][0]["extensions"]["code"] == "case_not_found"
    assert (await gql(client, a, "{ moderationQueue { items { id } } }"))["errors"][0]["extensions"][
        "code"
    ] == "case_not_found"


async def test_queue_order_and_detail(client, stack_env, db):
    mod = await moderator_user(client, stack_env)
    author, a, b = await register(client), await register(client), await register(client)
    light, heavy = await create_post(client, author, caption="meh"), await create_post(client, author, caption="bad")
    await mod_report(client, a, "post", light, "spam")
    await mod_report(client, a, "post", heavy, "child_safety")
    await mod_report(client, b, "post", heavy, "violence")
    cases = []
    cursor = None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/moderation/queue", params=params, headers=mod["headers"])).json()
        cases += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [c["severity"] for c in cases] == sorted((c["severity"] for c in cases), reverse=True)
    ids = [c["target_id"] for c in cases]
    assert ids.index(heavy) < ids.index(light) and len(ids) == len(set(ids))
    assert code(await client.get("/moderation/queue", params={"cursor": "x"}, headers=mod["headers"]))[0] == 400
    detail = await client.get(f"/moderation/cases/{cases[ids.index(heavy)]['id']}", headers=mod["headers"])
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["content"]["post"]["caption"] == "bad" and len(body["reports"]) == 2 and body["decisions"] == []
    # PDPL: opening someone's content is an audit row naming the moderator and the user
    seen = await db.fetchrow(
        "SELECT actor_user_id, subject, details FROM audit_log WHERE action = 'privacy.staff_viewed'"
        " AND details->>'case_id' = $1",
        body["id"],
    )
    assert seen is not None and str(seen["actor_user_id"]) == mod["user"]["id"]
    assert seen["subject"] == f"user:{author['user']['id']}"


async def test_claims(client, stack_env):
    m1, m2 = await moderator_user(client, stack_env), await moderator_user(client, stack_env)
    author, a = await register(client), await register(client)
    post_id = await create_post(client, author)
    case_id = (await mod_report(client, a, "post", post_id)).json()["case_id"]
    r = await client.post(f"/moderation/cases/{case_id}/claim", headers=m1["headers"])
    assert r.status_code == 200 and (r.json()["state"], r.json()["claimed_by"]) == ("claimed", m1["user"]["id"])
    assert (await client.post(f"/moderation/cases/{case_id}/claim", headers=m1["headers"])).status_code == 200
    assert code(await client.post(f"/moderation/cases/{case_id}/claim", headers=m2["headers"])) == (409, "case_claimed")
    assert code(await decide(client, m2, case_id, "dismiss")) == (409, "case_claimed")
    assert code(await client.post(f"/moderation/cases/{uuid4()}/claim", headers=m1["headers"])) == (
        404,
        "case_not_found",
    )
    r = await decide(client, m1, case_id, "dismiss", "not spam")
    assert r.status_code == 201 and r.json()["action"] == "dismiss", r.text
    assert (await case_for(client, m1, post_id))["state"] == "decided"
    assert code(await client.post(f"/moderation/cases/{case_id}/claim", headers=m2["headers"])) == (409, "case_decided")
    # an open case may be decided without a claim; a new report reopens a decided case
    await mod_report(client, await register(client), "post", post_id, "hate")
    assert (await case_for(client, m2, post_id))["state"] == "open"
    assert (await decide(client, m2, case_id, "dismiss", "still fine")).status_code == 201


async def test_dismiss_touches_nothing_and_tells_nobody(client, stack_env):
    mod = await moderator_user(client, stack_env)
    author, a = await register(client), await register(client)
    post_id = await create_post(client, author)
    case_id = (await mod_report(client, a, "post", post_id)).json()["case_id"]
    assert (await decide(client, mod, case_id, "dismiss")).status_code == 201
    assert (await client.get(f"/posts/{post_id}", headers=a["headers"])).status_code == 200
    assert (await client.get("/users/me/moderation", headers=author["headers"])).json()["items"] == []
    admin_view = await client.get(
        "/admin/reports", params={"status": "dismissed", "limit": 100}, headers=mod["headers"]
    )
    assert post_id in {r["target_id"] for r in admin_view.json()["items"]}  # the report was resolved with it


async def test_removed_comment_is_gone_from_the_thread_until_the_appeal_overturns(client, stack_env, svc):
    m1, m2 = await moderator_user(client, stack_env), await moderator_user(client, stack_env)
    author, commenter, reporter, other = [await register(client) for _ in range(4)]
    post_id = await create_post(client, author)
    cid = (
        await client.post(
            "/interactions/comments", json={"post_id": post_id, "body": "insult"}, headers=commenter["headers"]
        )
    ).json()["id"]
    keep = (
        await client.post("/interactions/comments", json={"post_id": post_id, "body": "nice"}, headers=other["headers"])
    ).json()["id"]
    case_id = (await mod_report(client, reporter, "comment", cid, "harassment")).json()["case_id"]
    r = await decide(client, m1, case_id, "remove", "insults another user", rule="harassment")
    assert r.status_code == 201, r.text
    decision = r.json()
    assert (decision["action"], decision["rule"], decision["status"]) == ("remove", "harassment", "effective")
    for viewer in (author, commenter, reporter):
        assert await thread(client, viewer, post_id) == [keep]
    assert code(await client.get(f"/interactions/comments/{cid}/replies", headers=commenter["headers"]))[0] == 404
    assert code(await decide(client, m2, case_id, "remove")) == (409, "already_removed")

    # the commenter is told: notification (action, rule, reason, decision id) and history
    notes = (await client.get("/notifications", headers=commenter["headers"])).json()["items"]
    note = next(n for n in notes if n["kind"] == "moderation")
    assert (
        note["target_id"] == decision["id"] and "harassment" in note["text"] and "insults another user" in note["text"]
    )
    history = (await client.get("/users/me/moderation", headers=commenter["headers"])).json()["items"]
    assert [h["id"] for h in history] == [decision["id"]] and "decided_by" not in history[0]
    async with svc.sessions() as s:
        audit = (
            await s.execute(
                select(AuditLog).where(AuditLog.subject == f"case:{case_id}", AuditLog.action == "moderation.decided")
            )
        ).scalar_one()
    assert audit.actor_user_id == UUID(m1["user"]["id"]) and audit.details["action"] == "remove"

    # appeals: only the affected user, once; then the case is back in the queue as appealed
    appeal_url = f"/moderation/decisions/{decision['id']}/appeal"
    assert code(await client.post(appeal_url, json={"text": "mine?"}, headers=reporter["headers"])) == (
        404,
        "decision_not_found",
    )
    r = await client.post(appeal_url, json={"text": "it was a joke between friends"}, headers=commenter["headers"])
    assert r.status_code == 201 and r.json()["decision_id"] == decision["id"], r.text
    assert code(await client.post(appeal_url, json={"text": "again"}, headers=commenter["headers"])) == (
        409,
        "already_appealed",
    )
    assert (await case_for(client, m2, cid))["state"] == "appealed"
    assert code(await decide(client, m2, case_id, "remove")) == (409, "case_appealed")
    assert code(await decide(client, m1, case_id, "overturn")) == (403, "decided_by_you")
    r = await decide(client, m2, case_id, "overturn", "a joke, not harassment")
    assert r.status_code == 201 and r.json()["action"] == "overturn", r.text
    assert set(await thread(client, reporter, post_id)) == {cid, keep}
    history = (await client.get("/users/me/moderation", headers=commenter["headers"])).json()["items"]
    assert {h["id"]: h["status"] for h in history}[decision["id"]] == "overturned"
    assert {h["action"] for h in history} == {"remove", "overturn"}


async def test_removed_post_and_video_are_quarantined_and_an_overturn_restores_them(client, stack_env, svc):
    m1, m2 = await moderator_user(client, stack_env), await moderator_user(client, stack_env)
    author, follower, reporter = await register(client), await register(client), await register(client)
    vid, keys = await video_with_files(svc, UUID(author["user"]["id"]))
    r = await client.post("/posts", json={"caption": "clip", "video_id": str(vid)}, headers=author["headers"])
    assert r.status_code == 201, r.text
    post_id = r.json()["id"]

    async def status_of(url: str) -> int:
        return (await client.get(url)).status_code

    async def home_ids(user) -> set[str]:
        page = await client.get("/feeds/home", params={"limit": 50}, headers=user["headers"])
        assert page.status_code == 200, page.text
        return {i["post"]["id"] for i in page.json()["items"]}

    assert post_id in await home_ids(author)  # the author's own posts are in their home feed
    playback = (await client.get(f"/media/{vid}/status", headers=author["headers"])).json()["playback_url"]
    assert playback and (await client.get(playback)).status_code == 200

    case_id = (await mod_report(client, reporter, "post", post_id, "violence")).json()["case_id"]
    case = (await client.get(f"/moderation/cases/{case_id}", headers=m1["headers"])).json()
    assert case["content"]["video"]["playback_url"]  # the moderator can play it
    decision = (await decide(client, m1, case_id, "remove", "graphic violence", rule="violence")).json()
    for viewer in (follower, reporter, author):  # gone for everyone, its author included
        assert (await client.get(f"/posts/{post_id}", headers=viewer["headers"])).status_code == 404
    assert post_id not in await home_ids(author)
    # no longer served, once the media route's per-process playability cache (5 s) lets go
    await wait_for(lambda: equals(status_of(playback), 404), what="the removed video refused")
    assert (
        code(await client.patch(f"/posts/{post_id}", json={"visibility": "public"}, headers=author["headers"]))[0]
        == 404
    )
    store = storage_for(svc.settings)
    assert all([await store.exists(k) for k in keys])  # quarantined, not deleted: the window is open
    async with svc.sessions() as s:
        held = (await s.execute(select(QuarantinedMedia).where(QuarantinedMedia.media_id == vid))).scalar_one()
    assert held.state == "held"
    assert await quarantine.purge_due(svc) >= 0 and all([await store.exists(k) for k in keys])

    r = await client.post(
        f"/moderation/decisions/{decision['id']}/appeal", json={"text": "it is news footage"}, headers=author["headers"]
    )
    assert r.status_code == 201, r.text
    assert (await decide(client, m2, case_id, "overturn", "newsworthy")).status_code == 201
    assert (await client.get(f"/posts/{post_id}", headers=follower["headers"])).status_code == 200
    assert post_id in await home_ids(author)
    assert (await client.get(f"/media/{vid}/status", headers=follower["headers"])).json()["status"] == "ready"
    await wait_for(lambda: equals(status_of(playback), 200), what="the restored video served")
    async with svc.sessions() as s:
        assert (await s.get(QuarantinedMedia, (UUID(decision["id"]), "video", vid))).state == "released"


async def test_an_upheld_appeal_lets_the_purge_job_delete_the_media(client, stack_env, svc):
    m1, m2 = await moderator_user(client, stack_env), await moderator_user(client, stack_env)
    author, reporter = await register(client), await register(client)
    vid, keys = await video_with_files(svc, UUID(author["user"]["id"]))
    post_id = (
        await client.post("/posts", json={"caption": "x", "video_id": str(vid)}, headers=author["headers"])
    ).json()["id"]
    case_id = (await mod_report(client, reporter, "post", post_id, "nudity")).json()["case_id"]
    decision = (await decide(client, m1, case_id, "remove", "nudity")).json()
    url = f"/moderation/decisions/{decision['id']}/appeal"
    assert (await client.post(url, json={"text": "art"}, headers=author["headers"])).status_code == 201
    r = await decide(client, m2, case_id, "uphold", "not art")
    assert r.status_code == 201 and r.json()["action"] == "uphold", r.text
    assert await quarantine.purge_due(svc) >= 1
    store = storage_for(svc.settings)
    assert not any([await store.exists(k) for k in keys])
    async with svc.sessions() as s:
        assert (await s.get(QuarantinedMedia, (UUID(decision["id"]), "video", vid))).state == "purged"
    assert (await client.get(f"/posts/{post_id}", headers=reporter["headers"])).status_code == 404
    history = (await client.get("/users/me/moderation", headers=author["headers"])).json()["items"]
    assert {h["id"]: h["status"] for h in history}[decision["id"]] == "upheld"
    assert code(await client.post(url, json={"text": "again"}, headers=author["headers"])) == (409, "already_appealed")


async def test_a_removed_message_leaves_both_histories(client, stack_env):
    mod = await moderator_user(client, stack_env)
    sender, recipient = await register(client), await register(client)
    m = (
        await client.post(
            "/interactions/messages",
            json={"to_user_id": recipient["user"]["id"], "body": "threat"},
            headers=sender["headers"],
        )
    ).json()
    case_id = (await mod_report(client, recipient, "message", m["id"], "violence")).json()["case_id"]
    shown = (await client.get(f"/moderation/cases/{case_id}", headers=mod["headers"])).json()
    assert shown["content"]["message"]["body"] == "threat"  # shared with moderators by the report
    assert (await decide(client, mod, case_id, "remove", "threats")).status_code == 201
    for user in (sender, recipient):
        page = await client.get(f"/interactions/conversations/{m['conversation_id']}/messages", headers=user["headers"])
        assert page.status_code == 200 and m["id"] not in {i["id"] for i in page.json()["items"]}


async def test_restore_and_account_actions_need_what_they_need(client, stack_env):
    mod = await moderator_user(client, stack_env)
    author, a = await register(client), await register(client)
    post_id = await create_post(client, author)
    case_id = (await mod_report(client, a, "post", post_id)).json()["case_id"]
    assert code(await decide(client, mod, case_id, "restore")) == (409, "not_removed")
    assert code(await decide(client, mod, case_id, "suspend")) == (400, "duration_required")
    assert code(await decide(client, mod, case_id, "warn", duration_hours=3)) == (400, "validation_error")
    assert code(await decide(client, mod, case_id, "uphold")) == (409, "not_appealed")
    assert code(await decide(client, mod, case_id, "shout")) == (422, "validation_error")
    user_case = (await mod_report(client, a, "user", author["user"]["id"])).json()["case_id"]
    assert code(await decide(client, mod, user_case, "remove")) == (400, "invalid_action")
    # a moderator's own content: someone else decides
    own = await create_post(client, mod)
    own_case = (await mod_report(client, a, "post", own)).json()["case_id"]
    assert code(await decide(client, mod, own_case, "dismiss")) == (403, "case_about_you")
    # a removal a moderator restores (no appeal): the post is back
    assert (await decide(client, mod, case_id, "remove", "spam")).status_code == 201
    assert (await client.get(f"/posts/{post_id}", headers=a["headers"])).status_code == 404
    assert (await decide(client, mod, case_id, "restore", "mistake")).status_code == 201
    assert (await client.get(f"/posts/{post_id}", headers=a["headers"])).status_code == 200


async def test_suspend_through_the_decision_endpoint(client, stack_env):
    """A suspension decided in the queue: the account's token stops, its login is refused with
    the end time and an appeal token, which opens its history and its appeal and nothing else;
    the overturned appeal lets it log in again."""
    mod, mod2 = await moderator_user(client, stack_env), await moderator_user(client, stack_env)
    author, a = await register(client), await register(client)
    case_id = (await mod_report(client, a, "user", author["user"]["id"], "harassment")).json()["case_id"]
    r = await decide(client, mod, case_id, "suspend", "repeated harassment", duration_hours=24)
    assert r.status_code == 201 and (r.json()["action"], r.json()["duration_hours"]) == ("suspend", 24), r.text
    decision_id = r.json()["id"]
    refused = await client.post("/posts", json={"caption": "still here"}, headers=author["headers"])
    assert refused.status_code in (401, 403), refused.text
    login = await client.post("/auth/login", json={"email": author["user"]["email"], "password": author["password"]})
    assert code_of(login, 403) == "account_suspended"
    details = login.json()["error"]["details"]
    assert details["until"] and details["appeal_token"]
    appeal_h = {"X-Appeal-Token": details["appeal_token"]}
    history = (await client.get("/users/me/moderation", headers=appeal_h)).json()["items"]
    assert history[0]["id"] == decision_id and history[0]["action"] == "suspend" and history[0]["appeal_until"]
    # the token opens nothing else, and a forged one nothing at all
    assert (await client.get("/users/me/consents", headers=appeal_h)).status_code == 401
    forged = {"X-Appeal-Token": details["appeal_token"][:-4] + "AAAA"}
    assert code_of(await client.get("/users/me/moderation", headers=forged), 401) == "invalid_appeal_token"
    appealed = await client.post(
        f"/moderation/decisions/{decision_id}/appeal", json={"text": "not me"}, headers=appeal_h
    )
    assert appealed.status_code == 201, appealed.text
    r = await decide(client, mod2, case_id, "overturn", "the report was wrong")
    assert r.status_code == 201, r.text
    again = await client.post("/auth/login", json={"email": author["user"]["email"], "password": author["password"]})
    assert again.status_code == 200, again.text


async def test_the_graphql_face(client, stack_env):
    m1, m2 = await moderator_user(client, stack_env), await moderator_user(client, stack_env)
    author, reporter = await register(client), await register(client)
    post_id = await create_post(client, author, caption="gql")
    reasons = (await gql(client, reporter, "{ reportReasons { code weight } }"))["data"]["reportReasons"]
    assert {"spam", "hate", "other"} <= {r["code"] for r in reasons}
    filed = await gql(
        client,
        reporter,
        'mutation($id: ID!) { reportContent(targetType: POST, targetId: $id, reason: "hate") { caseId status } }',
        {"id": post_id},
    )
    case_id = filed["data"]["reportContent"]["caseId"]
    page = await gql(client, m1, "{ moderationQueue(limit: 100) { items { id state severity reasons } } }")
    assert case_id in {c["id"] for c in page["data"]["moderationQueue"]["items"]}
    claimed = await gql(client, m1, "mutation($id: ID!) { claimCase(id: $id) { state claimedBy } }", {"id": case_id})
    assert claimed["data"]["claimCase"] == {"state": "CLAIMED", "claimedBy": m1["user"]["id"]}
    decide_q = (
        'mutation($id: ID!, $a: CaseAction!) { decideCase(id: $id, action: $a, reason: "hate speech") { id action } }'
    )
    assert (await gql(client, m2, decide_q, {"id": case_id, "a": "REMOVE"}))["errors"][0]["extensions"][
        "code"
    ] == "case_claimed"
    decided = (await gql(client, m1, decide_q, {"id": case_id, "a": "REMOVE"}))["data"]["decideCase"]
    assert decided["action"] == "remove"
    shown = await gql(client, m1, "query($id: ID!) { moderationCase(id: $id) { state content } }", {"id": case_id})
    assert shown["data"]["moderationCase"]["state"] == "DECIDED" and "gql" in shown["data"]["moderationCase"]["content"]
    mine = (await gql(client, author, "{ myModeration { id action status } }"))["data"]["myModeration"]
    assert mine == [{"id": decided["id"], "action": "remove", "status": "effective"}]
    appeal_q = 'mutation($id: ID!) { appealDecision(id: $id, text: "not hate") { decisionId } }'
    assert (await gql(client, reporter, appeal_q, {"id": decided["id"]}))["errors"][0]["extensions"][
        "code"
    ] == "decision_not_found"
    assert (await gql(client, author, appeal_q, {"id": decided["id"]}))["data"]["appealDecision"][
        "decisionId"
    ] == decided["id"]
    assert (await gql(client, m2, decide_q, {"id": case_id, "a": "OVERTURN"}))["data"]["decideCase"][
        "action"
    ] == "overturn"
    assert (await client.get(f"/posts/{post_id}", headers=reporter["headers"])).status_code == 200


async def test_the_old_queues_feed_the_one_queue_and_their_decisions_close_it(client, stack_env, svc):
    from tests.moderation.test_moderation_queue import posted_video

    mod = await moderator_user(client, stack_env)
    owner, reporter = await register(client), await register(client)
    held = await posted_video(client, svc, stack_env, owner, "review")  # the NSFW agent's case
    case = await case_for(client, mod, held["video_id"])
    assert (case["target_type"], case["state"], [f["labels"] for f in case["flags"]]) == ("video", "open", [["nsfw"]])
    shown = (await client.get(f"/moderation/cases/{case['id']}", headers=mod["headers"])).json()
    assert shown["content"]["video"]["status"] == "in_review" and shown["content"]["post_id"] == held["post_id"]
    old = (await client.get("/admin/moderation/cases", params={"limit": 100}, headers=mod["headers"])).json()["items"]
    old_id = next(c["id"] for c in old if c["video_id"] == held["video_id"])
    r = await client.post(
        f"/admin/moderation/cases/{old_id}/decide", json={"decision": "approve"}, headers=mod["headers"]
    )
    assert r.status_code == 200, r.text
    assert (await case_for(client, mod, held["video_id"]))["state"] == "decided"

    target = await register(client)
    filed = (await report(client, reporter, "user", target["user"]["id"], "impersonation")).json()
    assert (await case_for(client, mod, target["user"]["id"]))["state"] == "open"
    r = await client.post(
        f"/admin/reports/{filed['id']}/resolve", json={"outcome": "dismissed"}, headers=mod["headers"]
    )
    assert r.status_code == 200, r.text
    assert (await case_for(client, mod, target["user"]["id"]))["state"] == "decided"
