"""models/media/imaging.render on its own (no stack): the pixel modes phones and editors write,
colour profiles, orientation, and what is refused."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms

from models.media.imaging import ImageTooLarge, UnsupportedImage, render
from tests.support.images import png_bomb


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **kw)
    return out.getvalue()


def frame(r, name: str) -> Image.Image:
    im = Image.open(io.BytesIO(r.files[name]))
    im.load()
    return im


ODD = {
    "CMYK JPEG": lambda: encode(Image.new("CMYK", (300, 200), (0, 128, 255, 0)), "JPEG"),
    "16-bit PNG": lambda: encode(Image.new("I;16", (300, 200), 1000), "PNG"),
    "grey+alpha PNG": lambda: encode(Image.new("LA", (300, 200), (100, 50)), "PNG"),
    "palette PNG with transparency": lambda: encode(Image.new("P", (300, 200), 3), "PNG", transparency=3),
    "1-bit PNG": lambda: encode(Image.new("1", (300, 200), 1), "PNG"),
    "animated WebP": lambda: encode(
        Image.new("RGB", (300, 200), "red"), "WEBP", save_all=True, append_images=[Image.new("RGB", (300, 200), "lime")]
    ),
    "animated PNG": lambda: encode(
        Image.new("RGB", (300, 200), "red"), "PNG", save_all=True, append_images=[Image.new("RGB", (300, 200), "lime")]
    ),
    "grey JPEG": lambda: encode(Image.new("L", (300, 200), 100), "JPEG"),
}


@pytest.mark.parametrize("what", ODD)
def test_every_mode_becomes_rgb_in_both_formats(what):
    r = render(ODD[what](), max_pixels=10**6)
    assert (r.width, r.height) == (300, 200)
    assert sorted(r.files) == sorted(f"{s}.{f}" for s in (96, 320, 1080) for f in ("webp", "jpg"))
    for name in r.files:
        im = frame(r, name)
        assert im.mode == "RGB" and getattr(im, "n_frames", 1) == 1, name
    assert frame(r, "96.jpg").size == (96, 64)


def test_transparency_is_flattened_on_white():
    r = render(encode(Image.new("RGBA", (50, 50), (255, 0, 0, 0)), "PNG"), max_pixels=10**6)
    assert frame(r, "96.jpg").getpixel((25, 25)) >= (250, 250, 250)


def test_an_rgb_colour_profile_is_kept_and_nothing_else():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (30.0, 2.0, 41.0)}
    src = encode(
        Image.new("RGB", (400, 300), "teal"), "JPEG", icc_profile=icc, exif=exif, xmp=b"<x:xmpmeta>secret</x:xmpmeta>"
    )
    r = render(src, max_pixels=10**6)
    for name in r.files:
        im = frame(r, name)
        assert im.info.get("icc_profile") == icc, name
        assert not im.getexif() and "xmp" not in im.info and b"secret" not in r.files[name]
    cmyk = encode(Image.new("CMYK", (40, 30)), "JPEG", icc_profile=icc)  # a profile that no longer fits the pixels
    assert "icc_profile" not in frame(render(cmyk, max_pixels=10**6), "96.jpg").info


@pytest.mark.parametrize("orientation, size", [(1, (400, 300)), (6, (300, 400)), (8, (300, 400)), (3, (400, 300))])
def test_orientation_is_applied_to_the_pixels(orientation, size):
    exif = Image.Exif()
    exif[0x0112] = orientation
    r = render(encode(Image.new("RGB", (400, 300), "navy"), "JPEG", exif=exif), max_pixels=10**6)
    assert (r.width, r.height) == size and not frame(r, "1080.webp").getexif()


def test_refusals():
    with pytest.raises(ImageTooLarge):
        render(png_bomb(50_000, 50_000), max_pixels=50_000_000)
    with pytest.raises(ImageTooLarge):
        render(encode(Image.new("RGB", (101, 100)), "PNG"), max_pixels=10_000)  # one column over
    render(encode(Image.new("RGB", (100, 100)), "PNG"), max_pixels=10_000)  # exactly at the cap
    for data in (
        b"",
        b"hello",
        encode(Image.new("F", (30, 20), 1.5), "TIFF"),  # a real image, not a type we take
        encode(Image.new("RGB", (30, 20)), "GIF"),
        encode(Image.new("RGB", (300, 200)), "JPEG")[:300],
        png_bomb(4000, 3000),  # a valid header over far too few pixels (truncated data)
    ):
        with pytest.raises(UnsupportedImage):
            render(data, max_pixels=10**8)
