"""`make bench`, images: photos processed per second by models/media/imaging.render (type from
content, pixel cap, orientation, metadata dropped, 96/320/1080 px in WebP and JPEG) against
Pillow's own resize of the same files in the same run (open, decode in full, `thumbnail` each
size from the original, save WebP and JPEG), runs alternated; plus the NSFW score of one image
and how fast a decompression bomb is refused. Runs without the stack (--no-images skips it).
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

from PIL import Image

from models.media import imaging
from tests.support.images import photo, png_bomb

MAX_PIXELS = 50_000_000


def _camera_photo(width: int, height: int, fmt: str) -> bytes:
    """Texture (noise over a gradient) so that codecs work as hard as on a real photo."""
    base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    noise = Image.effect_noise((width, height), 40).convert("RGB")
    out = io.BytesIO()
    Image.blend(base, noise, 0.35).save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def files() -> list[tuple[str, bytes]]:
    return [
        ("12 MP JPEG 4032x3024", _camera_photo(4032, 3024, "JPEG")),
        ("12 MP JPEG 4032x3024", _camera_photo(4032, 3024, "JPEG")),
        ("2 MP JPEG with GPS EXIF", photo(1600, 1200)),
        ("2 MP PNG 1920x1080", _camera_photo(1920, 1080, "PNG")),
        ("3 MP WebP 2000x1500", _camera_photo(2000, 1500, "WEBP")),
    ]


def pillow_plain(data: bytes) -> dict[str, bytes]:
    """The same outputs, the plain way."""
    im = Image.open(io.BytesIO(data))
    im.load()
    im = im.convert("RGB")
    out = {}
    for size in imaging.SIZES:
        r = im.copy()
        r.thumbnail((size, size), Image.Resampling.LANCZOS)
        for fmt, kw in (("WEBP", {"quality": 80, "method": 4}), ("JPEG", {"quality": 85, "progressive": True})):
            b = io.BytesIO()
            r.save(b, fmt, **kw)
            out[f"{size}.{fmt}"] = b.getvalue()
    return out


def _rate(fn, batch: list[bytes]) -> float:
    started = time.perf_counter()
    for data in batch:
        fn(data)
    return len(batch) / (time.perf_counter() - started)


def run(runs: int = 3) -> dict:
    batch = files()
    datas = [d for _, d in batch]
    ours = lambda d: imaging.render(d, max_pixels=MAX_PIXELS)  # noqa: E731
    lib, plain = [], []
    for _ in range(runs):  # alternated, so machine noise hits both alike
        lib.append(_rate(ours, datas))
        plain.append(_rate(pillow_plain, datas))
    from ml.nsfw import load_classifier

    clf = load_classifier()
    jpeg = imaging.render(datas[0], max_pixels=MAX_PIXELS).file(320, "jpg")
    clf.scores([jpeg])  # warm
    started = time.perf_counter()
    for _ in range(20):
        clf.scores([jpeg])
    nsfw_ms = (time.perf_counter() - started) / 20 * 1000
    bomb, refusals = png_bomb(50_000, 50_000), []
    for _ in range(20):
        started = time.perf_counter()
        try:
            imaging.render(bomb, max_pixels=MAX_PIXELS)
        except imaging.ImageTooLarge:
            refusals.append((time.perf_counter() - started) * 1000)
    return {
        "files": [(name, len(d)) for name, d in batch],
        "lib": lib,
        "plain": plain,
        "nsfw_ms": nsfw_ms,
        "bomb_ms": statistics.median(refusals) if len(refusals) == 20 else None,
    }


def report_lines(m: dict) -> list[str]:
    med_lib, med_plain = statistics.median(m["lib"]), statistics.median(m["plain"])
    mb = sum(n for _, n in m["files"]) / 1e6
    bomb = f"{m['bomb_ms']:.2f} ms" if m["bomb_ms"] is not None else "NOT REFUSED"
    return [
        f"{'12. images: render() (images/s)':<44}{med_lib:>16.2f}  runs {', '.join(f'{x:.2f}' for x in m['lib'])}; "
        f"{len(m['files'])} photos ({mb:.1f} MB: 12 MP JPEGs, PNG, WebP) -> 3 sizes x WebP + JPEG",
        f"{'   Pillow full decode + thumbnail (images/s)':<44}{med_plain:>16.2f}  runs "
        f"{', '.join(f'{x:.2f}' for x in m['plain'])}; render / Pillow {med_lib / med_plain:.0%}",
        f"{'   NSFW score of one image (ms)':<44}{m['nsfw_ms']:>16.1f}  the 320 px JPEG, per upload",
        f"{'   50000x50000 PNG bomb refused in':<44}{bomb:>16}  median of 20, from the header",
    ]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m tests.bench.images", description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    print("\n".join(report_lines(run(ap.parse_args().runs))))
