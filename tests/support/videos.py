"""Small test videos generated with the same ffmpeg the app uses (lavfi `testsrc` + `sine`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

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
