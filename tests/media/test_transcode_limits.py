"""The transcode budget (models/media/limits.py): videos over the per-video limits fail
`limits_exceeded` right after the probe, an account over its daily transcode seconds fails
`transcode_budget_exceeded` (or is refused a new upload, 429). The agent is fed directly
(no broker) with settings whose MEDIA_TRANSCODE_TIMEOUT is far too short for any transcode: a
video that reached transcoding would fail `timeout` instead, so each reason proves the refusal
came first."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
import pytest_asyncio

from infra.storage import storage_for
from models.accounts import users
from models.core.base import utcnow
from models.core.events import new_id
from models.media import uploads, videos
from models.media.limits import TranscodeBudgetExceeded
from streams.agents.transcode import transcode_video
from tests.support.factories import register
from tests.support.processes import start_api
from tests.support.videos import make_video

LIMITS = {
    "media_max_long_side": 200,
    "media_max_fps": 30.0,
    "media_max_duration": 3.0,
    "media_max_bitrate": 2_000_000,
    "media_transcode_seconds_per_day": 3.0,
    "media_transcode_timeout": 0.001,
}


@pytest_asyncio.fixture
async def tight(stack_env):
    from infra.services import Services
    from infra.settings import get_settings

    s = await Services.start(get_settings().model_copy(update=LIMITS), relay=False)
    yield s
    await s.stop()


async def _owner(svc) -> UUID:
    tag = uuid4().hex[:10]
    user = await users.register(svc, email=f"l{tag}@example.com", password="password 123", username=f"l{tag}")
    return user.id


async def _uploaded(svc, owner: UUID, clip: Path, **extra) -> UUID:
    vid = new_id()
    key = f"originals/{vid}"
    await storage_for(svc.settings).put_file(key, clip)
    async with svc.sessions() as s, s.begin():
        s.add(
            videos.Video(
                id=vid,
                owner_id=owner,
                status=extra.pop("status", "processing"),
                size=clip.stat().st_size,
                received=clip.stat().st_size,
                original_key=key,
                uploaded_at=extra.pop("uploaded_at", utcnow()),
                **extra,
            )
        )
    return vid


async def _outcome(svc, vid: UUID) -> tuple[str, str | None]:
    await transcode_video(svc, vid)
    video = await videos.get_video(svc, vid)
    assert video is not None and video.playlist_key is None
    return video.status, video.reason


async def test_videos_over_a_limit_fail_before_any_transcoding(tight, tmp_path):
    owner = await _owner(tight)
    clips = {
        "resolution": make_video(tmp_path / "wide.mp4", 1, 320, 180, audio=False),
        "fps": make_video(tmp_path / "fast.mp4", 1, 160, 96, audio=False, fps=50),
        "duration": make_video(tmp_path / "long.mp4", 4, 160, 96, audio=False, fps=5),
        "bitrate": make_video(tmp_path / "heavy.mp4", 1, 192, 108, audio=False, bitrate_kbps=6000, noise=100),
    }
    for what, clip in clips.items():
        vid = await _uploaded(tight, owner, clip)
        assert await _outcome(tight, vid) == ("failed", "limits_exceeded"), what
        video = await videos.get_video(tight, vid)
        said = {"resolution": "long-side", "fps": "fps limit", "duration": "3s limit", "bitrate": "Mbit/s"}[what]
        assert video is not None and said in (video.message or ""), (what, video and video.message)
        assert not await storage_for(tight.settings).list(videos.video_prefix(vid))
    # the control: a video within every limit reaches the transcoder (which this timeout stops)
    ok = await _uploaded(tight, owner, make_video(tmp_path / "ok.mp4", 1, 160, 96, audio=False))
    assert await _outcome(tight, ok) == ("failed", "timeout")


async def test_an_account_over_its_daily_transcode_seconds(tight, tmp_path):
    owner = await _owner(tight)
    earlier = await _uploaded(tight, owner, make_video(tmp_path / "a.mp4", 1, 160, 96, audio=False))
    async with tight.sessions() as s, s.begin():  # 2.5 s already admitted today
        await s.execute(videos.Video.__table__.update().where(videos.Video.id == earlier).values(duration=2.5))
    clip = make_video(tmp_path / "b.mp4", 1, 160, 96, audio=False)
    over = await _uploaded(tight, owner, clip)
    assert await _outcome(tight, over) == ("failed", "transcode_budget_exceeded")
    # what was admitted yesterday no longer counts; a refused video charged nothing
    async with tight.sessions() as s, s.begin():
        await s.execute(
            videos.Video.__table__.update()
            .where(videos.Video.id == earlier)
            .values(uploaded_at=utcnow() - timedelta(hours=25))
        )
    within = await _uploaded(tight, owner, clip)
    assert await _outcome(tight, within) == ("failed", "timeout")  # admitted: reached the transcoder
    charged = await videos.get_video(tight, within)
    assert charged is not None and charged.duration and 0.9 < charged.duration < 1.2
    # another account's budget is its own
    other = await _uploaded(tight, await _owner(tight), clip)
    assert await _outcome(tight, other) == ("failed", "timeout")


async def test_a_spent_budget_refuses_new_uploads(tight, tmp_path):
    owner = await _owner(tight)
    spent = await _uploaded(tight, owner, make_video(tmp_path / "c.mp4", 1, 160, 96, audio=False))
    async with tight.sessions() as s, s.begin():
        await s.execute(videos.Video.__table__.update().where(videos.Video.id == spent).values(duration=3.0))
    with pytest.raises(TranscodeBudgetExceeded) as refused:
        await uploads.create_upload(tight, owner_id=owner, length=1000, metadata={})
    assert refused.value.status == 429 and 1 <= int(refused.value.headers["Retry-After"]) <= 86401


@pytest.fixture(scope="module")
def budget_api(stack_env, log_dir):
    proc, base = start_api(stack_env, log_dir, MEDIA_TRANSCODE_SECONDS_PER_DAY="3")
    yield base
    proc.stop()


async def test_the_tus_creation_answers_429_once_the_budget_is_spent(budget_api, svc, tmp_path):
    async with httpx.AsyncClient(base_url=budget_api, timeout=15) as c:
        user = await register(c)
        tus = {**user["headers"], "Tus-Resumable": "1.0.0", "Upload-Length": "1000"}
        first = await c.post("/media/upload", headers=tus)
        assert first.status_code == 201, first.text
        await _uploaded(
            svc,
            UUID(user["user"]["id"]),
            make_video(tmp_path / "d.mp4", 1, 160, 96, audio=False),
            status="ready",
            duration=3.0,
        )
        r = await c.post("/media/upload", headers=tus)
        assert r.status_code == 429 and r.json()["error"]["code"] == "transcode_budget_exceeded", r.text
        assert int(r.headers["Retry-After"]) >= 1
        # big uploads are refused before anything else (MEDIA_MAX_UPLOAD_BYTES)
        big = await c.post("/media/upload", headers={**tus, "Upload-Length": str(10**12)})
        assert big.status_code == 413 and big.json()["error"]["code"] == "upload_too_large"
