"""Media end to end with the real worker: Tus upload -> transcode agent (ffmpeg) -> NSFW agent
(open_nsfw) -> ready, pushed over the websocket, played over HTTP without an Authorization header;
bad files fail with a reason and leave nothing behind; a transcode killed mid-run is redone."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from urllib.parse import urljoin, urlparse
from uuid import UUID

import orjson
import websockets
from sqlalchemy import insert, select

from ml.nsfw import judge
from models.core.base import utcnow
from models.core.events import new_id
from models.media import videos
from models.moderation import cases
from models.moderation.cases import ModerationCase
from tests.support.factories import register
from tests.support.uploads import status, tus_upload, vid
from tests.support.videos import FFMPEG, make_video
from tests.support.waiting import wait_for


async def upload(api: str, user: dict, path: Path) -> str:
    up = await asyncio.to_thread(tus_upload, api, user, path, chunk_size=1024 * 1024, metadata={"filename": path.name})
    return vid(up.url)


async def settled(client, user, video_id: str, timeout: float = 60) -> dict:
    async def done():
        st = await status(client, user, video_id)
        return st if st["status"] not in ("uploading", "processing") else None

    return await wait_for(done, timeout=timeout, interval=0.2, what=f"video {video_id} processed")


def leftovers(env: dict, video_id: str) -> list[str]:
    var, media_dir = Path(env["VAR_DIR"]), Path(env["MEDIA_DIR"])
    found = [var / "uploads" / f"{video_id}.part", media_dir / "originals" / video_id, media_dir / "videos" / video_id]
    work = var / "media-work"
    found += list(work.glob(f"{video_id}*")) if work.exists() else []
    return [str(p) for p in found if p.exists()]


async def test_upload_to_ready_pushed_and_played_without_authorization(client, worker, api, stack_env, tmp_path):
    owner, other = await register(client), await register(client)
    clip = make_video(tmp_path / "clip.mp4", 3, 854, 480)
    async with websockets.connect(api.replace("http", "ws") + f"/ws?token={owner['access_token']}") as ws:
        assert orjson.loads(await ws.recv())["type"] == "authenticated"
        video_id = await upload(api, owner, clip)
        pushes = []
        while not pushes or pushes[-1]["status"] not in ("ready", "in_review", "rejected", "failed"):
            msg = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
            if msg.get("type") == "media.status" and msg["video_id"] == video_id:
                pushes.append(msg)
    seen = [m["status"] for m in pushes]
    assert seen[-1] == "ready" and pushes[-1]["progress"] == 100, pushes
    assert "processing" in seen and seen.index("processing") < seen.index("ready")
    assert any(0 < m["progress"] < 100 for m in pushes if m["status"] == "processing")  # transcode progress

    st = await status(client, owner, video_id)
    assert st["status"] == "ready" and st["reason"] is None and st["progress"] == 100
    assert st["renditions"] == ["240p", "480p"]  # never above the source's 480 lines
    assert (st["width"], st["height"]) == (854, 480) and 2.5 < st["duration"] < 3.5
    playback = st["playback_url"]
    assert urlparse(playback).path == f"/media/{video_id}/hls/master.m3u8"
    assert "t=" in urlparse(playback).query  # not on a public post yet: a signed token

    async def get(url: str):
        return await client.get(url)  # the shared client sends no Authorization header

    master = await get(playback)
    assert master.status_code == 200 and master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    variants = [ln for ln in master.text.splitlines() if ln and not ln.startswith("#")]
    assert len(variants) == 2 and all("?t=" in v for v in variants)
    variant_url = urljoin(playback, variants[0])
    variant = await get(variant_url)
    assert variant.status_code == 200 and "#EXT-X-ENDLIST" in variant.text
    segment = next(ln for ln in variant.text.splitlines() if ln and not ln.startswith("#"))
    seg = await get(urljoin(variant_url, segment))
    assert seg.status_code == 200 and seg.headers["content-type"] == "video/mp2t" and seg.content[:1] == b"\x47"
    thumb = await get(st["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    # without the token, or with a forged one, the restricted video does not exist
    bare = playback.split("?")[0]
    assert (await get(bare)).status_code == 404
    forged = bare + "?t=" + urlparse(playback).query[2:-4] + "AAAA"
    assert (await get(forged)).status_code == 404
    assert (await client.get(f"/media/{video_id}/status", headers=other["headers"])).status_code == 404

    # on a public post: anyone who can see the post plays it by its plain URL
    r = await client.post("/posts", json={"caption": "watch", "video_id": video_id}, headers=owner["headers"])
    assert r.status_code == 201 and r.json()["video_id"] == video_id
    post_id = r.json()["id"]
    again = await client.post("/posts", json={"caption": "twice", "video_id": video_id}, headers=owner["headers"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "video_already_attached"
    theirs = await client.post("/posts", json={"video_id": video_id}, headers=other["headers"])
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "video_not_found"
    assert (await client.get(f"/posts/{post_id}", headers=other["headers"])).status_code == 200
    public = await status(client, other, video_id)
    assert public["status"] == "ready" and "?" not in public["playback_url"]
    assert (await get(public["playback_url"])).status_code == 200

    gql = await client.post(
        "/graphql",
        headers=other["headers"],
        json={
            "query": (
                f'{{ post(id: "{post_id}") {{ videoId video {{ id status progress playbackUrl renditions }} }} '
                f'video(id: "{video_id}") {{ status width height }} }}'
            )
        },
    )
    data = gql.json()["data"]
    assert data["post"]["videoId"] == video_id
    assert data["post"]["video"] == {
        "id": video_id,
        "status": "READY",
        "progress": 100,
        "playbackUrl": public["playback_url"],
        "renditions": ["240p", "480p"],
    }
    assert data["video"] == {"status": "READY", "width": 854, "height": 480}


async def test_transcode_killed_mid_run_is_redone_and_the_post_waits_for_it(client, worker, api, stack_env, tmp_path):
    owner, other = await register(client), await register(client)
    clip = make_video(tmp_path / "long.mp4", 16, 1280, 720)
    video_id = await upload(api, owner, clip)

    async def transcoding():
        st = await status(client, owner, video_id)
        return st["status"] == "processing" and 0 < st["progress"] < 90

    await wait_for(transcoding, timeout=60, interval=0.05, what="transcode under way")
    worker.proc.kill()  # SIGKILL mid-transcode: no commit, ffmpeg dies with it
    assert (await status(client, owner, video_id))["status"] == "processing"
    # a post may carry a video still processing; others see it only once the video is ready
    r = await client.post("/posts", json={"caption": "soon", "video_id": video_id}, headers=owner["headers"])
    assert r.status_code == 201
    post_id = r.json()["id"]
    hidden = await client.get(f"/posts/{post_id}", headers=other["headers"])
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "post_not_found"
    assert (await client.get(f"/posts/{post_id}", headers=owner["headers"])).status_code == 200
    worker.start()
    st = await settled(client, owner, video_id, timeout=90)
    assert st["status"] == "ready" and st["renditions"] == ["240p", "480p", "720p"]
    assert (await client.get(f"/posts/{post_id}", headers=other["headers"])).status_code == 200
    # one published rendition set; nothing of the killed attempt is reachable
    sets = list((Path(stack_env["MEDIA_DIR"]) / "videos" / video_id).iterdir())
    assert len(sets) == 1 and (sets[0] / "master.m3u8").exists()
    assert st["playback_url"].split("/hls/")[0].endswith(video_id)


async def test_bad_files_fail_with_a_reason_and_leave_nothing(client, worker, api, stack_env, tmp_path):
    user = await register(client)
    whole = make_video(tmp_path / "whole.mp4", 3, 320, 240).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[: len(whole) // 2])
    subprocess.run(
        [
            FFMPEG,
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=2",
            "-c:a",
            "aac",
            str(tmp_path / "song.mp4"),
        ],
        check=True,
    )
    subprocess.run(
        [
            FFMPEG,
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=black:size=32x32:rate=1:duration=601",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(tmp_path / "ten_minutes_and_one_second.mp4"),
        ],
        check=True,
    )
    expected = {
        "cut.mp4": "truncated",
        "song.mp4": "no_video_stream",
        "ten_minutes_and_one_second.mp4": "limits_exceeded",
    }
    ids = {name: await upload(api, user, tmp_path / name) for name in expected}
    for name, reason in expected.items():
        st = await settled(client, user, ids[name])
        assert (st["status"], st["reason"]) == ("failed", reason), name
        assert st["playback_url"] is None
        # `failed` is recorded first, then its files go (models/media/videos.fail): allow that moment
        await wait_for(
            lambda name=name: leftovers(stack_env, ids[name]) == [], timeout=10, what=f"{name}'s files removed"
        )
    r = await client.post("/posts", json={"video_id": ids["cut.mp4"]}, headers=user["headers"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "video_not_attachable"


# ---------------------------------------------------------------- verdicts (no broker)


async def _transcoded_video(svc, owner_id: str) -> UUID:
    video_id = new_id()
    async with svc.sessions() as s, s.begin():
        await s.execute(
            insert(videos.Video).values(
                id=video_id,
                owner_id=UUID(owner_id),
                status="processing",
                progress=95,
                size=1,
                received=1,
                upload_metadata={},
                renditions=["240p"],
                playlist_key=f"videos/{video_id}/x/master.m3u8",
                thumbnail_key=f"videos/{video_id}/x/thumbnail.jpg",
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    return video_id


async def test_verdicts_publish_queue_or_hide_once(client, svc):
    owner = await register(client)
    scores_by_decision = {"publish": [0.01, 0.02, 0.1], "review": [0.01, 0.6, 0.1], "reject": [0.97, 0.99, 0.95, 0.1]}
    for decision, scores in scores_by_decision.items():
        verdict = judge(scores, review_at=0.5, reject_at=0.85)
        assert verdict.decision == decision
        video_id = await _transcoded_video(svc, owner["user"]["id"])
        applied = await cases.apply_verdict(svc, video_id, verdict)
        assert applied.status == {"publish": "ready", "review": "in_review", "reject": "rejected"}[decision]
        assert await cases.apply_verdict(svc, video_id, verdict) is None  # a redelivery changes nothing
        async with svc.sessions() as s:
            opened = (
                (await s.execute(select(ModerationCase).where(ModerationCase.video_id == video_id))).scalars().all()
            )
        if decision == "publish":
            assert opened == []
        else:
            assert [(c.status, c.action) for c in opened] == [("open", "review" if decision == "review" else "hidden")]
            assert opened[0].score == verdict.score
        assert await videos.is_ready(svc, video_id) is (decision == "publish")
