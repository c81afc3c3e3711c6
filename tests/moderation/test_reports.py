"""Reports: filing (and its abuse cases), the staff queue, resolution, events through the outbox."""

from __future__ import annotations

from uuid import uuid4

from models.core.topics import REPORTS
from tests.support.broker import collect
from tests.support.factories import admin_user, create_post, register, report


async def test_report_a_user_and_a_post(client):
    me, bad = await register(client), await register(client)
    post_id = await create_post(client, bad, caption="buy followers")
    r = await report(client, me, "user", bad["user"]["id"], "impersonation")
    assert r.status_code == 201, r.text
    body = r.json()
    assert {k: body[k] for k in ("reporter_id", "target_type", "target_id", "target_user_id", "reason", "status")} == {
        "reporter_id": me["user"]["id"],
        "target_type": "user",
        "target_id": bad["user"]["id"],
        "target_user_id": bad["user"]["id"],
        "reason": "impersonation",
        "status": "open",
    }
    r = await report(client, me, "post", post_id)
    assert r.status_code == 201 and r.json()["target_user_id"] == bad["user"]["id"]  # the post's author


async def test_abuse_cases(client):
    me, other = await register(client), await register(client)
    own_post = await create_post(client, me)
    assert (await report(client, me, "user", other["user"]["id"])).status_code == 201
    cases = [
        (report(client, me, "user", other["user"]["id"], "again"), 409, "report_exists"),
        (report(client, me, "user", me["user"]["id"]), 400, "cannot_report_self"),
        (report(client, me, "post", own_post), 400, "cannot_report_self"),
        (report(client, me, "user", str(uuid4())), 404, "user_not_found"),
        (report(client, me, "post", str(uuid4())), 404, "post_not_found"),
        (report(client, me, "comment", other["user"]["id"]), 422, "validation_error"),
        (report(client, me, "user", "not-a-uuid"), 422, "validation_error"),
        (report(client, me, "user", other["user"]["id"], ""), 422, "validation_error"),
        (report(client, me, "user", other["user"]["id"], "x" * 501), 422, "validation_error"),
        (
            client.post("/reports", json={"target_type": "user", "target_id": other["user"]["id"], "reason": "x"}),
            401,
            "unauthorized",
        ),
    ]
    for call, status, code in cases:
        r = await call
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text


async def test_queue_order_pagination_and_resolution(client, stack_env):
    mod = await admin_user(client, stack_env)
    target = await register(client)
    reporters = [await register(client) for _ in range(4)]
    ids = [
        (await report(client, u, "user", target["user"]["id"], f"r{i}")).json()["id"] for i, u in enumerate(reporters)
    ]
    # resolve the first two: the queue is then r2, r3 (open, oldest first), r1, r0 (resolved, newest first)
    for rid, outcome in ((ids[0], "upheld"), (ids[1], "dismissed")):
        r = await client.post(f"/admin/reports/{rid}/resolve", json={"outcome": outcome}, headers=mod["headers"])
        assert r.status_code == 200 and r.json()["status"] == outcome and r.json()["resolved_by"] == mod["user"]["id"]

    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/admin/reports", params=params, headers=mod["headers"])).json()
        seen += [r["id"] for r in page["items"] if r["id"] in ids]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [ids[2], ids[3], ids[1], ids[0]]

    opened = (
        await client.get("/admin/reports", params={"status": "open", "limit": 100}, headers=mod["headers"])
    ).json()["items"]
    assert {r["status"] for r in opened} == {"open"} and {ids[2], ids[3]} <= {r["id"] for r in opened}

    # resolution errors
    r = await client.post(f"/admin/reports/{ids[0]}/resolve", json={"outcome": "dismissed"}, headers=mod["headers"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "report_already_resolved"
    r = await client.post(f"/admin/reports/{uuid4()}/resolve", json={"outcome": "upheld"}, headers=mod["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "report_not_found"
    r = await client.post(f"/admin/reports/{ids[2]}/resolve", json={"outcome": "maybe"}, headers=mod["headers"])
    assert r.status_code == 422
    r = await client.get("/admin/reports", params={"cursor": "!!"}, headers=mod["headers"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
    # a reporter whose report was resolved may report the same target again
    assert (await report(client, reporters[0], "user", target["user"]["id"])).status_code == 201
    # the queue is the staff's
    r = await client.post(f"/admin/reports/{ids[2]}/resolve", json={"outcome": "upheld"}, headers=target["headers"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_role"


async def test_reports_over_graphql(client, stack_env):
    mod, me, bad = await admin_user(client, stack_env), await register(client), await register(client)

    async def gql(user, query, **variables):
        return (
            await client.post("/graphql", headers=user["headers"], json={"query": query, "variables": variables})
        ).json()

    r = await gql(
        me,
        """mutation($t: ID!) { createReport(input: {targetType: USER, targetId: $t, reason: "bot"})
                         { id status targetType targetUserId } }""",
        t=bad["user"]["id"],
    )
    created = r["data"]["createReport"]
    assert (created["status"], created["targetType"], created["targetUserId"]) == ("OPEN", "USER", bad["user"]["id"])
    r = await gql(
        me,
        """mutation($t: ID!) { createReport(input: {targetType: USER, targetId: $t, reason: "bot"})
                         { id } }""",
        t=bad["user"]["id"],
    )
    assert r["errors"][0]["extensions"]["code"] == "report_exists"
    r = await gql(me, "{ reports { items { id } } }")
    assert r["errors"][0]["extensions"]["code"] == "forbidden_role"
    r = await gql(mod, "{ reports(status: OPEN, limit: 100) { items { id status } nextCursor } }")
    assert {"id": created["id"], "status": "OPEN"} in r["data"]["reports"]["items"]
    r = await gql(
        mod, "mutation($id: ID!) { resolveReport(id: $id, outcome: UPHELD) { status resolvedBy } }", id=created["id"]
    )
    assert r["data"]["resolveReport"] == {"status": "UPHELD", "resolvedBy": mod["user"]["id"]}


async def test_events_leave_through_the_outbox(client, stack_env):
    mod, me, bad = await admin_user(client, stack_env), await register(client), await register(client)
    rid = (await report(client, me, "user", bad["user"]["id"])).json()["id"]
    await client.post(f"/admin/reports/{rid}/resolve", json={"outcome": "upheld"}, headers=mod["headers"])
    events = await collect(
        stack_env["KAFKA_BOOTSTRAP"], REPORTS.name, lambda evs: sum(e["payload"]["report_id"] == rid for e in evs) >= 2
    )
    mine = [e for e in events if e["payload"]["report_id"] == rid]
    assert [(e["type"], e["payload"]["status"], e["actor"]) for e in mine] == [
        ("report.created", "open", me["user"]["id"]),
        ("report.resolved", "upheld", mod["user"]["id"]),
    ]
    assert mine[0]["payload"]["target_user_id"] == bad["user"]["id"]


async def test_staff_cannot_judge_their_own_reports_or_themselves(client, stack_env):
    mod, other_mod, user = (
        await admin_user(client, stack_env),
        await admin_user(client, stack_env),
        await register(client),
    )
    mine = (await report(client, mod, "user", user["user"]["id"], "spam")).json()["id"]  # filed by the moderator
    post = await create_post(client, mod)
    about_mod = (await report(client, user, "post", post, "abuse")).json()["id"]  # about the moderator's post
    for rid, code in ((mine, "own_report"), (about_mod, "report_about_you")):
        r = await client.post(f"/admin/reports/{rid}/resolve", json={"outcome": "dismissed"}, headers=mod["headers"])
        assert (r.status_code, r.json()["error"]["code"]) == (403, code), r.text
        g = await client.post(
            "/graphql",
            headers=mod["headers"],
            json={
                "query": "mutation($id: ID!) { resolveReport(id: $id, outcome: DISMISSED) { status } }",
                "variables": {"id": rid},
            },
        )
        err = g.json()["errors"][0]["extensions"]
        assert (err["code"], err["status"]) == (code, 403)
        # still open: another moderator decides it
        r = await client.post(
            f"/admin/reports/{rid}/resolve", json={"outcome": "dismissed"}, headers=other_mod["headers"]
        )
        assert r.status_code == 200 and r.json()["resolved_by"] == other_mod["user"]["id"]
