"""Small test videos generated with the same ffmpeg the app uses (lavfi `testsrc` + `sine`), and
ready video rows with stand-in files in object storage (no transcode needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from uuid import UUID

import imageio_ffmpeg

from infra.storage import storage_for
from models.core.base import utcnow
from models.core.events import new_id
from models.media.videos import Video

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def make_video(
    path: Path | str,
    seconds: float = 2.0,
    width: int = 320,
    height: int = 240,
    audio: bool = True,
    *,
    fps: int = 25,
    bitrate_kbps: int | None = None,
    noise: int = 0,
) -> Path:
    """Write an H.264 (+ AAC when `audio`) clip of a moving test pattern; the container follows
    the suffix (.mp4, .mov, .mkv, .webm gets VP8/Opus). `noise` (0-100) adds temporal noise so
    that the clip is as hard to compress as camera footage. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    webm = path.suffix.lower() == ".webm"
    argv = [
        FFMPEG,
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size={width}x{height}:rate={fps}:duration={seconds}",
    ]
    if audio:
        argv += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    if noise:
        argv += ["-vf", f"noise=alls={noise}:allf=t"]
    if webm:
        argv += ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8"]
    else:
        argv += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if bitrate_kbps:
        argv += ["-b:v", f"{bitrate_kbps}k", "-maxrate", f"{bitrate_kbps}k", "-bufsize", f"{2 * bitrate_kbps}k"]
    if audio:
        argv += ["-c:a", "libopus" if webm else "aac", "-b:a", "64k"]
    if path.suffix.lower() in (".mp4", ".mov"):
        argv += ["-movflags", "+faststart"]
    argv += ["-t", str(seconds), str(path)]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    return path


async def video_with_files(svc, owner_id: UUID) -> tuple[UUID, list[str]]:
    """A ready video row with an original, two renditions and a thumbnail in object storage."""
    vid = new_id()
    root = f"videos/{vid}/set1"
    keys = [f"originals/{vid}", f"{root}/master.m3u8", f"{root}/240p/seg_00000.ts", f"{root}/thumbnail.jpg"]
    store = storage_for(svc.settings)
    for k in keys:
        await store.put_bytes(k, b"x")
    async with svc.sessions() as s, s.begin():
        s.add(
            Video(
                id=vid,
                owner_id=owner_id,
                status="ready",
                progress=100,
                size=1,
                original_key=keys[0],
                playlist_key=keys[1],
                thumbnail_key=keys[3],
                ready_at=utcnow(),
            )
        )
    return vid, keys
