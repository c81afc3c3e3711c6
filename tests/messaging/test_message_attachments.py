"""Images and videos in direct messages (models/messaging/attachments.py) through the real API,
PostgreSQL, Redis and the real NSFW classifier: the sender's own ready media only, signed links
the conversation's members get and nobody else can use, media-only messages, held images and
unready videos refused with stable codes and nothing stored, media in a message request, the
live push and the GraphQL face."""

from __future__ import annotations

import redis.asyncio as aioredis

from infra.storage import storage_for
from models.core.events import new_id
from models.media.videos import Video
from tests.support.client import code, gql
from tests.support.factories import user
from tests.support.images import photo, skin_close_up, upload
from tests.support.realtime import next_message, open_ws, subscribed
from tests.support.videos import video_with_files
from tests.support.waiting import wait_for


async def send(client, sender: dict, to: dict, body: str = "", **extra):
    return await client.post(
        "/interactions/messages", json={"to_user_id": str(to["id"]), "body": body, **extra}, headers=sender["headers"]
    )


async def image_of(client, u: dict, data: bytes | None = None, name: str = "p.jpg") -> dict:
    r = await upload(client, u, data or photo(640, 480), name=name)
    assert r.status_code == 201, r.text
    return r.json()


async def history(client, u: dict, conv: str) -> list[dict]:
    r = await client.get(f"/interactions/conversations/{conv}/messages", headers=u["headers"])
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_an_image_reaches_the_recipient_signed_and_members_only(client, api, stack_env):
    a, b, c = await user(client), await user(client), await user(client)
    shot = await image_of(client, a)
    redis = aioredis.from_url(stack_env["REDIS_URL"])
    wb = await open_ws(api, b["access_token"])
    try:
        await wait_for(lambda: subscribed(redis, b["id"]), what="the hub subscribed b's channel")
        r = await send(client, a, b, image_id=shot["id"])  # no text: allowed with media
        assert r.status_code == 201, r.text
        msg = r.json()
        assert msg["body"] == "" and msg["request"] is False
        att = msg["attachment"]
        assert (att["kind"], att["id"], att["status"]) == ("image", shot["id"], "ready")
        assert set(att["urls"]) == {"96", "320", "1080"} and all("?t=" in u for u in att["urls"].values())
        live = await next_message(wb, "message.new")
        assert live["message"]["id"] == msg["id"] and live["message"]["attachment"]["id"] == shot["id"]
    finally:
        await wb.close()
        await redis.aclose()

    [stored] = await history(client, b, msg["conversation_id"])
    url = stored["attachment"]["urls"]["320"]
    got = await client.get(url)
    assert got.status_code == 200 and got.headers["content-type"] == "image/webp"
    # without the token (all a non-member could guess) there is no image
    assert code(await client.get(url.split("?")[0])) == (404, "image_not_found")
    assert code(await client.get(url.split("?")[0] + "?t=forged")) == (404, "image_not_found")
    r = await client.get(f"/interactions/conversations/{msg['conversation_id']}/messages", headers=c["headers"])
    assert code(r) == (404, "conversation_not_found")
    # the conversation list's last message carries it too
    convs = (await client.get("/interactions/conversations", headers=b["headers"])).json()["items"]
    assert convs[0]["last_message"]["attachment"]["id"] == shot["id"]
    # a text message next to it has none
    r = await send(client, b, a, "nice")
    assert r.status_code == 201 and r.json()["attachment"] is None


async def test_bad_media_is_refused_and_nothing_is_stored(client, svc):
    a, b = await user(client), await user(client)
    first = await send(client, a, b, "start")
    conv = first.json()["conversation_id"]
    mine, theirs = await image_of(client, a), await image_of(client, b)
    held = await image_of(client, a, skin_close_up(640, 0.8), name="y.png")
    assert held["status"] == "in_review"
    video, _ = await video_with_files(svc, a["id"])
    busy = new_id()
    async with svc.sessions() as s, s.begin():
        s.add(Video(id=busy, owner_id=a["id"], status="processing", progress=40, size=1))

    assert code(await send(client, a, b, image_id=theirs["id"])) == (404, "image_not_found")
    assert code(await send(client, a, b, image_id=str(new_id()))) == (404, "image_not_found")
    assert code(await send(client, b, a, video_id=str(video))) == (404, "video_not_found")
    assert code(await send(client, a, b, image_id=held["id"])) == (409, "image_in_review")
    assert code(await send(client, a, b, video_id=str(busy))) == (409, "media_not_ready")
    assert code(await send(client, a, b, image_id=mine["id"], video_id=str(video))) == (400, "too_many_attachments")
    assert code(await send(client, a, b)) == (400, "empty_message")  # neither text nor media
    assert (await send(client, a, b, image_id="not-a-uuid")).status_code in (400, 422)
    assert [m["body"] for m in await history(client, b, conv)] == ["start"]

    # idempotent by client_id, and the same client_id with other media is refused
    r1 = await send(client, a, b, "look", image_id=mine["id"], client_id="att-1")
    r2 = await send(client, a, b, "look", image_id=mine["id"], client_id="att-1")
    assert r1.status_code == r2.status_code == 201 and r1.json()["id"] == r2.json()["id"]
    assert r2.json()["attachment"]["id"] == mine["id"]
    assert code(await send(client, a, b, "look", client_id="att-1")) == (422, "idempotency_key_reused")
    assert len(await history(client, b, conv)) == 2

    # a ready video: signed HLS playlist and thumbnail
    r = await send(client, a, b, video_id=str(video))
    assert r.status_code == 201, r.text
    att = r.json()["attachment"]
    assert (att["kind"], att["id"], att["status"]) == ("video", str(video), "ready")
    assert "/hls/" in att["playback_url"] and "?t=" in att["playback_url"] and "?t=" in att["thumbnail_url"]
    # rendered when read: a video a moderator rejects later shows no links
    async with svc.sessions() as s, s.begin():
        (await s.get(Video, video)).status = "rejected"
    [latest, *_] = await history(client, b, conv)
    assert latest["attachment"] == latest["attachment"] | {"status": "rejected", "playback_url": None}
    await storage_for(svc.settings).delete_prefix(f"videos/{video}/")


async def test_media_in_a_message_request_and_graphql(client):
    a, b = await user(client), await user(client)
    r = await client.put("/interactions/messages/settings", json={"dm_policy": "followers"}, headers=b["headers"])
    assert r.status_code == 200
    shot = await image_of(client, a)
    r = await send(client, a, b, image_id=shot["id"])
    assert r.status_code == 202 and r.json()["attachment"]["id"] == shot["id"]
    [req] = (await client.get("/interactions/message-requests", headers=b["headers"])).json()["items"]
    url = req["messages"][0]["attachment"]["urls"]["96"]
    assert (await client.get(url)).status_code == 200  # the recipient may look before accepting
    r = await client.post(f"/interactions/message-requests/{req['id']}/accept", headers=b["headers"])
    conv = r.json()["conversation_id"]
    [moved] = await history(client, b, conv)
    assert moved["id"] == req["messages"][0]["id"] and moved["attachment"]["id"] == shot["id"]

    other = await image_of(client, a)
    out = await gql(
        client,
        a,
        'mutation($to: ID!, $img: ID!) { sendMessage(input: {toUserId: $to, body: "", imageId: $img}) '
        "{ id body request attachment { kind id status urls { size url } } } }",
        {"to": str(b["id"]), "img": other["id"]},
    )
    sent = out["data"]["sendMessage"]
    assert sent["request"] is False and sent["attachment"]["kind"] == "image"
    assert [u["size"] for u in sent["attachment"]["urls"]] == [96, 320, 1080]
    out = await gql(
        client,
        b,
        "query($c: ID!) { messages(conversationId: $c) { items { id attachment { id kind } } } }",
        {"c": conv},
    )
    assert out["data"]["messages"]["items"][0] == {"id": sent["id"], "attachment": {"id": other["id"], "kind": "image"}}
    out = await gql(
        client,
        a,
        'mutation($to: ID!) { sendMessage(input: {toUserId: $to, body: "x", imageId: "' + str(new_id()) + '"}) '
        "{ id } }",
        {"to": str(b["id"])},
    )
    assert out["errors"][0]["extensions"]["code"] == "image_not_found"
