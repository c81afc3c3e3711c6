"""Video processing with the ffmpeg that imageio-ffmpeg ships: probe, HLS ladder, thumbnail, frames.

Commands are built with ffmpeg-python (`cmd=` that binary) and run as asyncio subprocesses, so
the event loop never blocks. Every child is killed when its call times out or is cancelled,
and dies with the thread that started it (PDEATHSIG), so a crashed worker leaves no ffmpeg
behind. There is no ffprobe: metadata comes from the stderr of `ffmpeg -i`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import re
import shutil
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from uuid import uuid4

import ffmpeg as ffmpeg_python
import imageio_ffmpeg

from infra.embedded import pdeathsig_preexec

log = logging.getLogger(__name__)

# Containers accepted from users, as named by `sniff_container`.
VIDEO_CONTAINERS: frozenset[str] = frozenset({"mp4", "mov", "webm", "mkv"})
# The ffmpeg demuxer each sniffed container is opened with: forcing it means a user's file is
# never handed to another demuxer (an HLS playlist posing as a video could read local files).
_DEMUXER = {"mp4": "mov", "mov": "mov", "webm": "matroska", "mkv": "matroska"}
_GLOBAL = ["-hide_banner", "-nostdin", "-nostats", "-loglevel"]
_PROGRESS_EVERY = 0.5  # seconds between on_progress calls


@cache
def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


class VideoError(Exception):
    """A video that cannot be processed. `reason` is a machine code:
    not_found, empty, not_a_video, unsupported_container, truncated, no_video_stream, too_long,
    timeout, ffmpeg_failed."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason, self.message = reason, message


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    width: int  # as displayed: swapped when the stream carries a 90/270° rotation
    height: int
    video_codec: str
    audio_codec: str | None
    container: str  # mp4, mov, webm, mkv — or ffmpeg's demuxer name for other files
    fps: float | None
    rotation: int = 0


@dataclass(frozen=True)
class Rendition:
    name: str
    height: int  # of the short side: "720p" of a portrait clip is 720 wide
    video_kbps: int
    audio_kbps: int


@dataclass(frozen=True)
class HlsResult:
    master: Path
    renditions: list[str]
    files: list[Path]  # every file of the set, relative to out_dir


LADDER: tuple[Rendition, ...] = (
    Rendition("240p", 240, 400, 64),
    Rendition("480p", 480, 1000, 96),
    Rendition("720p", 720, 2500, 128),
)


def ladder_for(height: int, width: int | None = None) -> list[Rendition]:
    """The renditions at or below the source: of its height, or of its short side when
    `width` is given. A source below the lowest tier gets one rendition at its own (even) size."""
    short = min(height, width) if width else height
    if short <= 0:
        raise ValueError(f"bad video size {width}x{height}")
    chosen = [r for r in LADDER if r.height <= short]
    if not chosen:
        h = max(2, short - short % 2)
        chosen = [replace(LADDER[0], name=f"{h}p", height=h)]
    return chosen


# ---------------------------------------------------------------- container sniffing

_NOT_VIDEO_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"ID3", "an MP3 file"),
    (b"#EXTM3U", "an HLS playlist"),
)


def sniff_container(head: bytes) -> str | None:
    """The container from a file's first bytes (64 are enough): mp4, mov, webm, mkv (and
    avi and flv, only to name them when refusing them), else None."""
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mov"  # QuickTime files from before `ftyp`
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm" if b"webm" in head[:64] else "mkv"  # the EBML DocType
    # videos in other containers, recognised to be refused by name
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"FLV\x01"):
        return "flv"
    return None


def _describe(head: bytes) -> str:
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "a WebP image"
    for magic, what in _NOT_VIDEO_MAGIC:
        if head.startswith(magic):
            return what
    return "not a known video container"


def _open_source(path: Path) -> tuple[bytes, str | None]:
    """(first bytes, sniffed container); raises not_found / empty."""
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise VideoError("not_found", f"no such file: {path}") from None
    if not head:
        raise VideoError("empty", "the file is empty (0 bytes)")
    return head, sniff_container(head)


def _input(path: Path, container: str | None, **kwargs):
    if container in _DEMUXER:
        kwargs["f"] = _DEMUXER[container]
    # `file:` so that a name can never select another protocol
    return ffmpeg_python.input(f"file:{path.resolve()}", **kwargs)


# ---------------------------------------------------------------- subprocesses


def _argv(stream, loglevel: str = "error") -> list[str]:
    """ffmpeg-python's argv with our global options right after the binary."""
    compiled = stream.compile(cmd=ffmpeg_exe())
    return [compiled[0], *_GLOBAL, loglevel, *compiled[1:]]


@contextlib.asynccontextmanager
async def _spawn(argv: list[str]) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=pdeathsig_preexec(signal.SIGKILL),
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:  # timeout, cancellation or an error on our side
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def _run(argv: list[str], timeout: float, what: str) -> tuple[int, bytes, str]:
    """(returncode, stdout, stderr) of a short ffmpeg run; killed after `timeout` seconds."""
    async with _spawn(argv) as proc:
        try:
            async with asyncio.timeout(timeout):
                out, err = await proc.communicate()
        except TimeoutError:
            raise VideoError("timeout", f"{what} took longer than {timeout:g}s") from None
    assert proc.returncode is not None  # communicate() waited for the exit
    return proc.returncode, out, err.decode(errors="replace")


def _tail(stderr: str, n: int = 6) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return " | ".join(lines[-n:]) or "no error output"


# ---------------------------------------------------------------- probe

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_INPUT = re.compile(r"^Input #0, (.+?), from ", re.M)
_STREAM = re.compile(r"^\s*Stream #0:\d+\S*: (Video|Audio): (\w+)(.*)$", re.M)
_SIZE = re.compile(r"(?<![\w])(\d{2,5})x(\d{2,5})(?![\w])")
_FPS = re.compile(r"(\d+(?:\.\d+)?) fps")
_TBR = re.compile(r"(\d+(?:\.\d+)?) tbr")
_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees", re.I)
_TRUNCATED = ("partial file", "File ended prematurely", "moov atom not found", "Truncating packet")
_IMAGE_DEMUXERS = ("image2", "gif", "apng", "ico", "tiff", "webp")


async def probe(
    path: Path,
    *,
    timeout: float = 30,
    max_duration: float | None = None,
    containers: Collection[str] | None = VIDEO_CONTAINERS,
    scan: bool = True,
) -> VideoInfo:
    """Metadata of a video file, or VideoError with a precise reason.

    The container is judged from the file's bytes, never its name; with `containers=None`
    any format ffmpeg can open is accepted (only for trusted files). With `scan` (the default)
    every video packet is also read (stream copy into the null muxer, no decoding), which
    finds files cut short whose header still looks whole, and the real duration when the
    header has none (browser-recorded WebM)."""
    path = Path(path)
    head, container = _open_source(path)
    if containers is not None and container not in containers:
        what = _describe(head) if container is None else f"the container is {container}"
        reason = "not_a_video" if container is None else "unsupported_container"
        raise VideoError(reason, f"{what}; accepted: {', '.join(sorted(containers))}")
    # the input summary is printed at log level info
    if scan:
        argv = _argv(_input(path, container).output("-", map="0:v:0?", c="copy", f="null", progress="pipe:1"), "info")
    else:  # `-i` alone: ffmpeg prints the summary, then exits 1 for want of an output
        argv = [
            ffmpeg_exe(),
            *_GLOBAL,
            "info",
            *(["-f", _DEMUXER[container]] if container in _DEMUXER else []),
            "-i",
            f"file:{path.resolve()}",
        ]
    rc, out, err = await _run(argv, timeout, "probing")
    info = _parse_probe(err, head, container)
    read_to = _last_out_time(out) if scan else None
    if info.duration <= 0 and read_to:
        info = replace(info, duration=read_to)
    if scan and any(s in err for s in _TRUNCATED):
        raise VideoError("truncated", f"the file is cut short: {_tail(err, 3)}")
    if scan and rc != 0:
        raise VideoError("ffmpeg_failed", f"reading the file failed: {_tail(err, 3)}")
    if info.duration <= 0:
        raise VideoError("not_a_video", "the file has no duration")
    if max_duration is not None and info.duration > max_duration:
        raise VideoError("too_long", f"{info.duration:.1f}s is over the {max_duration:g}s limit")
    return info


def _parse_probe(err: str, head: bytes, container: str | None) -> VideoInfo:
    m = _INPUT.search(err)
    if m is None:
        if container is not None and any(s in err for s in _TRUNCATED + ("Invalid data",)):
            raise VideoError("truncated", f"the {container} file cannot be opened (cut short?): {_tail(err, 2)}")
        raise VideoError("not_a_video", f"{_describe(head)}: {_tail(err, 2)}")
    # only the input's summary: the output's stream lines look alike
    end = re.search(r"^(Stream mapping:|Output #0)", err[m.end() :], re.M)
    err = err[m.start() : m.end() + end.start()] if end else err[m.start() :]
    demuxer = m.group(1)
    if demuxer.endswith("_pipe") or demuxer in _IMAGE_DEMUXERS:
        raise VideoError("not_a_video", f"an image ({demuxer}), not a video")
    video = audio = None
    for s in _STREAM.finditer(err):
        if s.group(1) == "Video" and video is None and "(attached pic)" not in s.group(3):
            video = s
        elif s.group(1) == "Audio" and audio is None:
            audio = s.group(2)
    if video is None:
        raise VideoError("no_video_stream", "the file has no video stream")
    codec, rest = video.group(2), video.group(3)
    size = _SIZE.search(rest)
    if size is None:
        raise VideoError("not_a_video", f"the {codec} stream has no frame size")
    width, height = int(size.group(1)), int(size.group(2))
    # side data follows the stream line; look only until the next stream
    after = err[video.end() :]
    nxt = re.search(r"^\s*Stream #", after, re.M)
    rot = _ROTATION.search(after[: nxt.start()] if nxt else after)
    rotation = round(float(rot.group(1))) % 360 if rot else 0
    if rotation in (90, 270):
        width, height = height, width
    fps_m = _FPS.search(rest) or _TBR.search(rest)
    d = _DURATION.search(err)
    duration = int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3)) if d else 0.0
    return VideoInfo(
        duration=duration,
        width=width,
        height=height,
        video_codec=codec,
        audio_codec=audio,
        container=container or demuxer,
        fps=float(fps_m.group(1)) if fps_m else None,
        rotation=rotation,
    )


def _last_out_time(progress: bytes) -> float | None:
    times = re.findall(rb"^out_time_us=(\d+)", progress, re.M)
    return int(times[-1]) / 1e6 if times else None


# ---------------------------------------------------------------- HLS


def build_hls_command(
    src: Path, out_dir: Path, info: VideoInfo, *, segment_seconds: int = 4, preset: str = "veryfast"
) -> list[str]:
    """The single ffmpeg argv writing the whole ladder straight into `out_dir`:
    out_dir/master.m3u8 and out_dir/<rendition>/index.m3u8 + seg_00000.ts… with progress on
    stdout (`-progress pipe:1`)."""
    src, out_dir = Path(src), Path(out_dir)
    if "%" in str(out_dir):  # the HLS muxer would expand it as a pattern
        raise ValueError(f"output directory with '%' in its path: {out_dir}")
    ladder = ladder_for(info.height, info.width)
    has_audio = info.audio_codec is not None
    inp = _input(src, _open_source(src)[1])
    video_in, audio_in = inp["v:0"], inp["a:0"]  # the first of each, whatever else the file has
    n = len(ladder)
    videos = video_in.filter_multi_output("split", n) if n > 1 else None
    audios = audio_in.filter_multi_output("asplit", n) if has_audio and n > 1 else None
    portrait = info.height > info.width
    streams: list = []
    opts: dict[str, str | int] = {}
    stream_map: list[str] = []
    for i, r in enumerate(ladder):
        v = videos.stream(i) if videos is not None else video_in
        w, h = (r.height, -2) if portrait else (-2, r.height)
        streams.append(v.filter("scale", w, h).filter("format", "yuv420p"))
        opts |= {
            f"b:v:{i}": f"{r.video_kbps}k",
            f"maxrate:v:{i}": f"{r.video_kbps * 107 // 100}k",
            f"bufsize:v:{i}": f"{r.video_kbps * 3 // 2}k",
        }
        if has_audio:
            streams.append(audios.stream(i) if audios is not None else audio_in)
            opts[f"b:a:{i}"] = f"{r.audio_kbps}k"
        stream_map.append(f"v:{i},a:{i},name:{r.name}" if has_audio else f"v:{i},name:{r.name}")
    # Every rendition cuts its segments at the same instants: a key frame forced every
    # `segment_seconds`, a fixed GOP and no scene-cut key frames in between.
    gop = max(1, round((info.fps or 25) * segment_seconds))
    if has_audio:
        opts |= {"c:a": "aac", "ac": 2}
    out = ffmpeg_python.output(
        *streams,
        str(out_dir / "%v" / "index.m3u8"),
        f="hls",
        progress="pipe:1",
        **{"c:v": "libx264"},
        preset=preset,
        g=gop,
        keyint_min=gop,
        sc_threshold=0,
        force_key_frames=f"expr:gte(t,n_forced*{segment_seconds})",
        hls_time=segment_seconds,
        hls_playlist_type="vod",
        hls_flags="independent_segments",
        hls_segment_type="mpegts",
        hls_segment_filename=str(out_dir / "%v" / "seg_%05d.ts"),
        master_pl_name="master.m3u8",
        var_stream_map=" ".join(stream_map),
        **opts,
    )
    return _argv(out)


ProgressCallback = Callable[[float], Awaitable[None] | None]


async def transcode_hls(
    src: Path,
    out_dir: Path,
    info: VideoInfo,
    *,
    on_progress: ProgressCallback | None = None,
    timeout: float = 900,
    segment_seconds: int = 4,
    preset: str = "veryfast",
) -> HlsResult:
    """Transcode `src` to the HLS ladder in one ffmpeg run and publish it at `out_dir`.

    ffmpeg writes into a sibling `.<name>.partial-<id>` directory that is renamed to `out_dir`
    in one step only when everything succeeded, so `out_dir` either holds a whole set or does
    not exist (an existing `out_dir`, e.g. from an earlier attempt, is replaced). On an error,
    a timeout or cancellation ffmpeg is killed and the partial directory removed. Progress
    (0..100, monotonic, at most every 0.5 s) goes to `on_progress`; 100 means published. An
    exception from `on_progress` is logged and does not stop the transcode."""
    src, out_dir = Path(src), Path(out_dir)
    ladder = ladder_for(info.height, info.width)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(out_dir, older_than=timeout)
    tmp = out_dir.parent / f".{out_dir.name}.partial-{uuid4().hex[:12]}"
    tmp.mkdir()
    progress = _Progress(on_progress, info.duration)
    try:
        argv = build_hls_command(src, tmp, info, segment_seconds=segment_seconds, preset=preset)
        try:
            async with asyncio.timeout(timeout):
                rc, err = await _run_with_progress(argv, progress)
        except TimeoutError:
            raise VideoError("timeout", f"transcoding took longer than {timeout:g}s") from None
        if rc != 0:
            raise VideoError("ffmpeg_failed", f"ffmpeg exited with {rc}: {_tail(err)}")
        result = _publish(tmp, out_dir, [r.name for r in ladder])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    await progress.report(100.0, final=True)
    return result


class _Progress:
    def __init__(self, callback: ProgressCallback | None, duration: float):
        self.callback, self.duration = callback, duration
        self.last, self.at = -1.0, 0.0

    async def out_time(self, seconds: float) -> None:
        # 100 is kept for "published": the run's own figures stop at 99
        await self.report(min(99.0, 100.0 * seconds / self.duration) if self.duration > 0 else 0)

    async def report(self, pct: float, final: bool = False) -> None:
        now = time.monotonic()
        if self.callback is None or pct <= self.last or (not final and now - self.at < _PROGRESS_EVERY):
            return
        self.last, self.at = pct, now
        try:
            res = self.callback(round(pct, 1))
            if inspect.isawaitable(res):
                await res
        except Exception:  # progress is advisory
            log.warning("on_progress failed", exc_info=True)


async def _run_with_progress(argv: list[str], progress: _Progress) -> tuple[int, str]:
    async with _spawn(argv) as proc:
        err_lines: deque[str] = deque(maxlen=30)

        async def drain_stderr() -> None:
            assert proc.stderr is not None  # _spawn pipes it
            async for line in proc.stderr:
                err_lines.append(line.decode(errors="replace"))

        drain = asyncio.create_task(drain_stderr())
        try:
            assert proc.stdout is not None  # _spawn pipes it
            async for line in proc.stdout:
                if line.startswith(b"out_time_us=") and line[12:].strip().isdigit():
                    await progress.out_time(int(line[12:]) / 1e6)
            rc = await proc.wait()
            await drain
        finally:
            drain.cancel()
    return rc, "".join(err_lines)


def _publish(tmp: Path, out_dir: Path, names: list[str]) -> HlsResult:
    master = tmp / "master.m3u8"
    text = master.read_text() if master.exists() else ""
    missing = [n for n in names if f"{n}/index.m3u8" not in text or not (tmp / n / "index.m3u8").exists()]
    if missing:
        raise VideoError("ffmpeg_failed", f"ffmpeg left no playlist for {', '.join(missing)}")
    files = sorted(p.relative_to(tmp) for p in tmp.rglob("*") if p.is_file())
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{uuid4().hex[:12]}"
        os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return HlsResult(master=out_dir / "master.m3u8", renditions=names, files=files)


def _remove_stale_partials(out_dir: Path, older_than: float) -> None:
    """Partial directories of runs whose process died (no `finally` ran): anything older
    than a run's timeout can no longer belong to a live run."""
    cutoff = time.time() - older_than
    for p in out_dir.parent.glob(f".{out_dir.name}.partial-*"):
        with contextlib.suppress(OSError):
            if p.stat().st_mtime < cutoff:
                shutil.rmtree(p, ignore_errors=True)


# ---------------------------------------------------------------- images


def _jpeg_output(stream, **kwargs):
    # mjpeg wants full-range YUV; limited-range video is converted rather than refused
    return stream.filter("format", "yuvj420p").output("pipe:1", f="image2pipe", vcodec="mjpeg", **{"q:v": 3}, **kwargs)


async def thumbnail(
    src: Path, *, at: float = 1.0, timeout: float = 30, duration: float | None = None, width: int | None = None
) -> bytes:
    """One JPEG frame at `at` seconds, clamped to the video's duration (probed when not
    given); `width` scales it down keeping the aspect ratio."""
    src = Path(src)
    _, container = _open_source(src)
    if duration is None:
        duration = (await probe(src, timeout=timeout, containers=None, scan=False)).duration
    at = max(0.0, min(at, duration - 0.1))
    for seek in (at, 0.0) if at > 0 else (0.0,):
        v = _input(src, container, ss=f"{seek:.3f}").video
        if width:
            v = v.filter("scale", width, -2)
        rc, out, err = await _run(_argv(_jpeg_output(v, **{"frames:v": 1})), timeout, "thumbnail")
        if rc != 0:
            raise VideoError("ffmpeg_failed", f"thumbnail: {_tail(err)}")
        if out.startswith(b"\xff\xd8"):
            return out
    raise VideoError("ffmpeg_failed", "no frame could be decoded for a thumbnail")


async def sample_frames(
    src: Path, *, fps: float = 1.0, max_frames: int = 600, width: int = 224, timeout: float = 120
) -> list[bytes]:
    """JPEG frames `width` pixels wide, `fps` per second of video, at most `max_frames`."""
    src = Path(src)
    _, container = _open_source(src)
    v = _input(src, container).video.filter("fps", fps).filter("scale", width, -2)
    rc, out, err = await _run(_argv(_jpeg_output(v, **{"frames:v": max_frames})), timeout, "sampling frames")
    if rc != 0:
        raise VideoError("ffmpeg_failed", f"sampling frames: {_tail(err)}")
    return split_jpegs(out)


def split_jpegs(data: bytes) -> list[bytes]:
    """Split concatenated JPEGs by walking their markers (0xFFD9 may occur inside tables;
    inside entropy-coded data 0xFF is always stuffed, so there it ends the image)."""
    frames, i, n = [], 0, len(data)
    while i + 4 <= n and data[i : i + 2] == b"\xff\xd8":
        j = i + 2
        while j + 2 <= n:
            if data[j] != 0xFF:
                raise ValueError(f"bad JPEG marker at {j}")
            marker = data[j + 1]
            if marker == 0xD9:
                j += 2
                break
            if marker == 0xFF:  # fill byte
                j += 1
                continue
            if 0xD0 <= marker <= 0xD7 or marker == 0x01:
                j += 2
                continue
            j += 2 + int.from_bytes(data[j + 2 : j + 4], "big")
            if marker == 0xDA:  # start of scan: skip entropy-coded data to the next marker
                while j + 1 < n and not (data[j] == 0xFF and data[j + 1] not in (0x00, *range(0xD0, 0xD8))):
                    j += 1
        frames.append(data[i:j])
        i = j
    return frames
