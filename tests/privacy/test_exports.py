"""Data exports (PDPL): the request, one at a time, progress to ready, the archive's contents, the
signed link (owner only, expiring), and the agent fed without a broker."""

from __future__ import annotations

import io
import json
import zipfile
from uuid import UUID

from models.core.events import Event, received
from models.privacy import exports
from streams.agents.data_exports import data_exports
from tests.support.client import code_of, gql
from tests.support.factories import create_post, likes, register
from tests.support.waiting import equals, wait_for
from tests.support.wallet import fund


async def _user_with_data(client, svc) -> tuple[dict, dict]:
    u, friend = await register(client), await register(client)
    post_id = await create_post(client, u, "بيانات رحلة أحمد")
    r = await client.post(
        "/interactions/comments", json={"post_id": post_id, "body": "my comment"}, headers=u["headers"]
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/interactions/messages",
        json={"to_user_id": friend["user"]["id"], "body": "a private hello"},
        headers=u["headers"],
    )
    assert r.status_code == 201, r.text
    await fund(svc, u["user"]["id"], 1234)
    r = await client.post("/interactions/reactions", json={"post_id": post_id, "type": "like"}, headers=u["headers"])
    assert r.status_code == 202, r.text
    await wait_for(lambda: equals(likes(client, u, post_id), 1), timeout=30, what="the like to be applied")
    return u, {"post_id": post_id}


def _archive(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n.removesuffix(".json"): json.loads(zf.read(n)) for n in zf.namelist() if n.endswith(".json")}


async def test_export_end_to_end(client, svc, worker):
    u, made = await _user_with_data(client, svc)
    h = u["headers"]
    r = await client.post("/users/me/exports", headers=h)
    assert r.status_code == 202, r.text
    export_id = r.json()["id"]

    async def ready():
        body = (await client.get(f"/users/me/exports/{export_id}", headers=h)).json()
        assert body["state"] in ("pending", "running", "ready"), body
        return body if body["state"] == "ready" else None

    body = await wait_for(ready, timeout=60, what="the export to be ready")
    assert body["progress"] == 100 and body["download_url"]
    link = body["download_url"]

    # another user's token on the link, or another user reading the status: 404
    other = await register(client)
    assert code_of(await client.get(link, headers=other["headers"]), 404) == "export_not_found"
    assert (
        code_of(await client.get(f"/users/me/exports/{export_id}", headers=other["headers"]), 404) == "export_not_found"
    )
    # a forged token: 404
    assert code_of(await client.get(link.rsplit(".", 1)[0] + ".AAAA"), 404) == "export_not_found"

    got = await client.get(link)  # the link alone opens it
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    archive = _archive(got.content)
    uid = u["user"]["id"]
    assert archive["profile"][0]["account"]["id"] == uid
    assert "password_hash" not in archive["profile"][0]["account"]
    assert [p["caption"] for p in archive["posts"]] == ["بيانات رحلة أحمد"]
    assert [c["body"] for c in archive["comments"]] == ["my comment"]
    assert [m["body"] for m in archive["messages_sent"]] == ["a private hello"]
    assert [t["amount"] for t in archive["wallet_transactions"]] == [1234]
    assert archive["reactions"] == [{"post_id": made["post_id"], "type": "like"}]
    assert len(archive["sessions"]) == 1 and "token_hash" not in json.dumps(archive["sessions"])

    # after the link's expiry: 404, and retention removes the file
    async with svc.sessions() as s, s.begin():
        from sqlalchemy import update

        await s.execute(
            update(exports.DataExport)
            .where(exports.DataExport.id == UUID(export_id))
            .values(expires_at=exports.utcnow().replace(year=2000))
        )
    assert code_of(await client.get(link), 404) == "export_not_found"
    assert (await client.get(f"/users/me/exports/{export_id}", headers=h)).json()["download_url"] is None
    assert await exports.prune_expired(svc, exports.utcnow()) >= 1


async def test_one_export_at_a_time(client, svc):
    u = await register(client)
    first = await client.post("/users/me/exports", headers=u["headers"])
    assert first.status_code == 202
    second = await client.post("/users/me/exports", headers=u["headers"])
    assert code_of(second, 409) == "export_running"
    assert second.json()["error"]["details"]["id"] == first.json()["id"]
    missing = await client.get("/users/me/exports/00000000-0000-7000-8000-000000000000", headers=u["headers"])
    assert code_of(missing, 404) == "export_not_found"
    assert code_of(await client.get("/users/me/exports/not-a-uuid", headers=u["headers"]), 400) == "invalid_id"


async def test_agent_builds_without_a_broker(client, svc):
    """The handler fed the event directly: progress reaches 100, a redelivery is a no-op."""
    u = await register(client)
    out = await gql(client, u, "mutation { requestDataExport { id state progress } }")
    export_id = out["data"]["requestDataExport"]["id"]
    assert out["data"]["requestDataExport"]["state"] == "pending"
    event = Event("export.requested", {"export_id": export_id, "user_id": u["user"]["id"]})
    # the API's relay also publishes the request: a running worker may build it first, never twice
    await data_exports([received(event)], svc)

    async def ready():
        out = await gql(
            client, u, "query($id: ID!) { dataExport(id: $id) { state progress downloadUrl } }", {"id": export_id}
        )
        got = out["data"]["dataExport"]
        return got if got["state"] == "ready" else None

    first = await wait_for(ready, timeout=30, what="the export")
    assert first["progress"] == 100 and first["downloadUrl"]
    async with svc.sessions() as s:
        before = (await s.get(exports.DataExport, UUID(export_id))).finished_at
    assert await exports.build(svc, UUID(export_id)) == "ready"  # redelivered: nothing rebuilt
    await data_exports([received(event)], svc)
    async with svc.sessions() as s:
        assert (await s.get(exports.DataExport, UUID(export_id))).finished_at == before
