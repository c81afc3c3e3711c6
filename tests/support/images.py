"""Images made with Pillow for the image tests: photos with GPS EXIF, a decompression bomb, an
image the real open_nsfw model scores high, and uploads through the real API."""

from __future__ import annotations

import io
import struct
import zlib

import httpx
from PIL import Image

GPS_IFD = 0x8825
# Cairo's Tahrir Square: a location the server must never serve back
GPS = {1: "N", 2: (30.0, 2.0, 41.0), 3: "E", 4: (31.0, 14.0, 8.0)}


def photo(width: int = 1600, height: int = 1200, *, fmt: str = "JPEG", gps: bool = True, orientation: int = 1) -> bytes:
    """A photo as a phone makes it: camera EXIF with GPS coordinates and an orientation tag."""
    im = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "PhoneModel 12"  # Model
    exif[0x0112] = orientation
    if gps:
        exif[GPS_IFD] = GPS
    out = io.BytesIO()
    im.save(out, fmt, exif=exif, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def png(width: int = 64, height: int = 48, color=(20, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def heic(width: int = 640, height: int = 480) -> bytes:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    out = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(out, "HEIF")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid PNG header declaring width × height pixels over a few bytes of data: decoding it
    would take width × height × 3 bytes of memory."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + _chunk(b"IEND", b"")
    )


def skin_close_up(side: int = 200, strength: float = 1.0) -> bytes:
    """A skin-coloured close-up, found by a hill climb on a 6×6 grid of skin tones against the
    real open_nsfw model (its known false positive: skin-coloured close-ups), upscaled
    bicubically. As served (320 px JPEG) the model scores it ~0.97 at 200 px, over
    NSFW_REJECT_AT (0.85); blended at `strength` 0.8 over grey at 640 px ~0.69, between
    NSFW_REVIEW_AT (0.5) and rejection."""
    skin = (224, 172, 140)
    grid = Image.new("RGB", (6, 6), skin)
    for (x, y), color in {(0, 0): (255, 208, 188), (2, 2): (197, 129, 124), (3, 5): (183, 85, 120)}.items():
        grid.putpixel((x, y), color)
    im = grid.resize((side, side), Image.Resampling.BICUBIC)
    if strength < 1.0:
        im = Image.blend(Image.new("RGB", im.size, (128, 128, 128)), im, strength)
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


async def upload(
    client: httpx.AsyncClient,
    user: dict,
    data: bytes,
    *,
    name: str = "photo.jpg",
    ctype: str = "image/jpeg",
    path: str = "/media/images",
    method: str = "POST",
) -> httpx.Response:
    return await client.request(method, path, files={"file": (name, data, ctype)}, headers=user["headers"])


def served(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im
