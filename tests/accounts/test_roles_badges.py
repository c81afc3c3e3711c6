"""Roles (make_admin job, the admin role endpoint, demotion taking effect) and badges."""

from __future__ import annotations

from uuid import UUID, uuid4

from sqlalchemy import select, update

from models.accounts.users import User
from models.core.audit import AuditLog
from tests.support.factories import admin_user, make_admin_job, register


async def audit_rows(svc, user_id: str, action: str) -> list[AuditLog]:
    async with svc.sessions() as s:
        return list(
            (
                await s.execute(
                    select(AuditLog).where(AuditLog.subject == f"user:{user_id}", AuditLog.action == action)
                )
            ).scalars()
        )


async def test_make_admin_job(client, stack_env, svc):
    user = await register(client)
    r = await client.get("/admin/reports", headers=user["headers"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_role"

    missing = make_admin_job(stack_env, f"nobody-{uuid4().hex[:8]}@example.com")
    assert missing.returncode == 1 and "no account has the email" in missing.stderr
    assert make_admin_job(stack_env, "").returncode == 2

    done = make_admin_job(stack_env, user["user"]["email"].upper())  # emails match case-insensitively
    assert done.returncode == 0, done.stderr
    assert "is now an admin" in done.stdout
    # takes effect on the next request, with the same access token (its role claim says "user")
    assert (await client.get("/admin/reports", headers=user["headers"])).status_code == 200
    again = make_admin_job(stack_env, user["user"]["email"])
    assert again.returncode == 0 and "was already an admin" in again.stdout

    rows = await audit_rows(svc, user["user"]["id"], "admin.role_changed")
    assert len(rows) == 1 and rows[0].actor_user_id is None
    assert rows[0].details == {"from": "user", "to": "admin"} and "jobs.make_admin" in rows[0].user_agent


async def test_non_admins_are_refused(client):
    user, other = await register(client), await register(client)
    target = other["user"]["id"]
    calls = [
        client.put(f"/admin/users/{target}/role", json={"role": "admin"}, headers=user["headers"]),
        client.post(f"/admin/users/{target}/badges/verified", headers=user["headers"]),
        client.delete(f"/admin/users/{target}/badges/verified", headers=user["headers"]),
        client.get("/admin/reports", headers=user["headers"]),
    ]
    for call in calls:
        r = await call
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_role", r.text
    r = await client.put(f"/admin/users/{target}/role", json={"role": "admin"})
    assert r.status_code == 401
    r = await client.post(
        "/graphql",
        headers=user["headers"],
        json={"query": "mutation($u: ID!) { setRole(userId: $u, role: ADMIN) { role } }", "variables": {"u": target}},
    )
    assert r.json()["errors"][0]["extensions"]["code"] == "forbidden_role"
    assert (await client.get(f"/users/{target}/profile", headers=user["headers"])).json()["badges"] == []


async def test_role_change_takes_effect_at_once_both_ways(client, stack_env):
    admin, member = await admin_user(client, stack_env), await register(client)
    url = f"/admin/users/{member['user']['id']}/role"
    assert (await client.get("/admin/reports", headers=member["headers"])).status_code == 403

    r = await client.put(url, json={"role": "moderator"}, headers=admin["headers"])
    assert r.status_code == 200 and r.json() == {"user_id": member["user"]["id"], "role": "moderator", "changed": True}
    assert (await client.get("/admin/reports", headers=member["headers"])).status_code == 200
    # a moderator works the report queue but grants nothing
    r = await client.put(url, json={"role": "admin"}, headers=member["headers"])
    assert r.status_code == 403

    r = await client.put(url, json={"role": "admin"}, headers=admin["headers"])
    assert r.json()["role"] == "admin"
    assert (
        await client.post(f"/admin/users/{admin['user']['id']}/badges/creator", headers=member["headers"])
    ).status_code == 201
    # demoted: admin power gone on the very next request, though the JWT still says otherwise
    r = await client.put(url, json={"role": "user"}, headers=admin["headers"])
    assert r.json() == {"user_id": member["user"]["id"], "role": "user", "changed": True}
    r = await client.get("/admin/reports", headers=member["headers"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_role"


async def test_role_input_errors_and_the_last_admin(client, stack_env, svc):
    admin = await admin_user(client, stack_env)
    r = await client.put(f"/admin/users/{admin['user']['id']}/role", json={"role": "owner"}, headers=admin["headers"])
    assert r.status_code == 422
    r = await client.put(f"/admin/users/{uuid4()}/role", json={"role": "moderator"}, headers=admin["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
    r = await client.put("/admin/users/xyz/role", json={"role": "moderator"}, headers=admin["headers"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_id"

    # make this the only admin, then it cannot demote itself
    async with svc.sessions() as s, s.begin():
        await s.execute(
            update(User).where(User.role == "admin", User.id != UUID(admin["user"]["id"])).values(role="user")
        )
    r = await client.put(f"/admin/users/{admin['user']['id']}/role", json={"role": "user"}, headers=admin["headers"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "last_admin"
    assert (await client.get("/admin/reports", headers=admin["headers"])).status_code == 200


async def test_badges_granted_shown_revoked(client, stack_env, svc):
    admin, member, viewer = await admin_user(client, stack_env), await register(client), await register(client)
    uid = member["user"]["id"]
    r = await client.post(f"/admin/users/{uid}/badges/verified", headers=admin["headers"])
    assert r.status_code == 201 and r.json()["name"] == "verified"
    r2 = await client.post(f"/admin/users/{uid}/badges/verified", headers=admin["headers"])
    assert r2.status_code == 200 and r2.json() == r.json()  # already held: unchanged

    profile = (await client.get(f"/users/{uid}/profile", headers=viewer["headers"])).json()
    assert [b["name"] for b in profile["badges"]] == ["verified"]
    q = "query($id: ID!) { user(id: $id) { profile { badges { name grantedAt } } } }"
    g = (await client.post("/graphql", headers=viewer["headers"], json={"query": q, "variables": {"id": uid}})).json()
    assert g["data"]["user"]["profile"]["badges"] == [{"name": "verified", "grantedAt": r.json()["granted_at"]}]

    bad = await client.post(f"/admin/users/{uid}/badges/famous", headers=admin["headers"])
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "unknown_badge"
    nobody = await client.post(f"/admin/users/{uuid4()}/badges/verified", headers=admin["headers"])
    assert nobody.status_code == 404 and nobody.json()["error"]["code"] == "user_not_found"

    assert (await client.delete(f"/admin/users/{uid}/badges/verified", headers=admin["headers"])).status_code == 204
    again = await client.delete(f"/admin/users/{uid}/badges/verified", headers=admin["headers"])
    assert again.status_code == 404 and again.json()["error"]["code"] == "badge_not_found"
    assert (await client.get(f"/users/{uid}/profile", headers=viewer["headers"])).json()["badges"] == []

    granted = await audit_rows(svc, uid, "admin.badge_granted")
    revoked = await audit_rows(svc, uid, "admin.badge_revoked")
    assert len(granted) == len(revoked) == 1
    assert granted[0].actor_user_id == UUID(admin["user"]["id"]) and granted[0].details == {"badge": "verified"}


async def test_graphql_admin_mutations(client, stack_env):
    admin, member = await admin_user(client, stack_env), await register(client)
    uid = member["user"]["id"]

    async def gql(query, **variables):
        return (
            await client.post("/graphql", headers=admin["headers"], json={"query": query, "variables": variables})
        ).json()

    r = await gql('mutation($u: ID!) { grantBadge(userId: $u, badge: "official") { name } }', u=uid)
    assert r["data"]["grantBadge"] == {"name": "official"}
    r = await gql("mutation($u: ID!) { setRole(userId: $u, role: MODERATOR) { userId role changed } }", u=uid)
    assert r["data"]["setRole"] == {"userId": uid, "role": "MODERATOR", "changed": True}
    r = await gql('mutation($u: ID!) { revokeBadge(userId: $u, badge: "official") }', u=uid)
    assert r["data"]["revokeBadge"] is True
    r = await gql('mutation($u: ID!) { revokeBadge(userId: $u, badge: "official") }', u=uid)
    assert r["errors"][0]["extensions"]["code"] == "badge_not_found"
