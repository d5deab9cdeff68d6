"""Report photos: accepted by their bytes (JPEG, PNG, WebP), at most a few megabytes each, and stored
re-encoded so that nothing of the original's metadata survives: no EXIF GPS position, no camera make
and serial number, no embedded thumbnail of an uncropped original. The orientation EXIF would have
applied is applied to the pixels first, so the photo still shows upright."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from kotacerdas.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from kotacerdas.i18n import _
from kotacerdas.kit.files import JPEG, PNG, WEBP, sniff

MAX_PHOTOS = 3
MAX_PIXELS = 40_000_000  # a 40-megapixel camera; more is a decompression bomb, not a photo
MAX_SIDE = 2048  # stored photos are shrunk to this (FixMyStreet does the same)
ACCEPTED = (JPEG, PNG, WEBP)


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes
    content_type: str
    suffix: str
    width: int
    height: int


def clean_photo(data: bytes, *, max_bytes: int) -> CleanPhoto:
    """Check one uploaded photo and return it re-encoded without metadata."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(limit=f"{max_bytes // 1024} KB")
    kind = sniff(data)
    if kind not in ACCEPTED:
        raise UnsupportedMediaType(_("A photo must be a JPEG, PNG or WebP image."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise ValidationFailed(_("The photo is too large in pixels."))
            image.load()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as exc:
        raise UnsupportedMediaType(_("The photo could not be read as an image.")) from exc
    image = ImageOps.exif_transpose(image)
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    if kind is PNG:
        clean = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        clean.save(out, format="PNG", optimize=False)
        content_type, suffix = "image/png", ".png"
    elif kind is WEBP:
        clean = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        clean.save(out, format="WEBP", quality=85)
        content_type, suffix = "image/webp", ".webp"
    else:
        clean = image.convert("RGB")
        clean.save(out, format="JPEG", quality=85, optimize=True)  # no exif= argument: none is written
        content_type, suffix = "image/jpeg", ".jpg"
    return CleanPhoto(out.getvalue(), content_type, suffix, clean.width, clean.height)
