"""Turning uploaded bytes into the sizes we serve, with Pillow. Pure and blocking: callers run
`render` in a thread (models/media/images.py).

- The type comes from the content only: Pillow is asked to identify the bytes with the JPEG,
  PNG and WebP plugins (and HEIF through pillow-heif); a name or Content-Type is never read.
- Decompression bombs: the pixel count is read from the header and refused before any pixel
  is decoded; JPEGs are decoded at a reduced scale (`draft`) when that still covers the
  largest size.
- Nothing of the original's metadata survives: the orientation is applied to the pixels, then
  only pixels (and the ICC colour profile, which says nothing about the user) are encoded. No
  EXIF, GPS or XMP is ever written, and the original itself is not kept.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from functools import cache

from PIL import Image, ImageOps, UnidentifiedImageError

SIZES = (96, 320, 1080)  # the long side of each served size, never upscaled
FORMATS = ("webp", "jpg")  # WebP, with a JPEG fallback for clients without it
SOURCE_FORMATS = ["JPEG", "PNG", "WEBP", "HEIF"]


class UnsupportedImage(ValueError):
    """Not a JPEG, PNG, WebP or HEIC image, or a broken one."""


class ImageTooLarge(ValueError):
    """More pixels than allowed."""


@dataclass(frozen=True)
class Rendered:
    source_format: str  # what the content is: JPEG, PNG, WEBP, HEIF
    width: int  # of the largest served size
    height: int
    files: dict[str, bytes]  # "320.webp" -> bytes, for every size and format

    def file(self, size: int, fmt: str) -> bytes:
        return self.files[f"{size}.{fmt}"]


@cache
def _register_heif() -> bool:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # HEIC is then refused like any other unknown type
        return False
    register_heif_opener(thumbnails=False)  # never trust an embedded thumbnail: it may hold other pixels
    return True


def _open(data: bytes, max_pixels: int) -> Image.Image:
    formats = SOURCE_FORMATS if _register_heif() else SOURCE_FORMATS[:-1]
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=formats)  # reads the header only
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageTooLarge("the image has too many pixels") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            raise UnsupportedImage("not a JPEG, PNG, WebP or HEIC image") from None
    width, height = im.size
    if width < 1 or height < 1:
        raise UnsupportedImage("the image has no pixels")
    if width * height > max_pixels:
        raise ImageTooLarge(f"{width}x{height} is over the {max_pixels:,}-pixel limit")
    return im


def _decode(im: Image.Image, longest: int) -> Image.Image:
    """The first frame, oriented, as RGB (transparency flattened on white), metadata dropped."""
    if im.format == "JPEG":
        im.draft("RGB", (longest, longest))  # a 1/2, 1/4 or 1/8 scale decode that still covers `longest`
    try:
        im.load()
        oriented = ImageOps.exif_transpose(im)
    except Exception:  # truncated or corrupt data: Pillow raises OSError, SyntaxError, ValueError...
        raise UnsupportedImage("the image is broken or truncated") from None
    if oriented.mode in ("RGBA", "LA", "PA") or (oriented.mode == "P" and "transparency" in oriented.info):
        rgba = oriented.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        out = flat
    else:
        out = oriented.convert("RGB")
    # an RGB source's colour profile still describes the pixels; a CMYK or grey one would not
    icc = im.info.get("icc_profile") if im.mode in ("RGB", "RGBA", "RGBX", "P") else None
    out.info = {"icc_profile": icc} if icc else {}
    return out


def render(
    data: bytes, *, max_pixels: int, sizes: tuple[int, ...] = SIZES, webp_quality: int = 80, jpeg_quality: int = 85
) -> Rendered:
    """Every served size of an uploaded image, in WebP and JPEG. Raises UnsupportedImage or
    ImageTooLarge; CPU-bound (call it from a thread)."""
    im = _open(data, max_pixels)
    source_format = im.format or "?"
    current = _decode(im, max(sizes))
    icc = current.info.get("icc_profile")
    files: dict[str, bytes] = {}
    dims: tuple[int, int] = current.size
    for size in sorted(sizes, reverse=True):  # each size from the one above it: less work
        if max(current.size) > size:
            current = current.copy()
            current.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
        if size == max(sizes):
            dims = current.size
        extra = {"icc_profile": icc} if icc else {}
        webp, jpeg = io.BytesIO(), io.BytesIO()
        current.save(webp, "WEBP", quality=webp_quality, method=4, **extra)
        current.save(jpeg, "JPEG", quality=jpeg_quality, progressive=True, **extra)
        files[f"{size}.webp"], files[f"{size}.jpg"] = webp.getvalue(), jpeg.getvalue()
    return Rendered(source_format=source_format, width=dims[0], height=dims[1], files=files)
