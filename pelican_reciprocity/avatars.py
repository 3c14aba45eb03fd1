"""People's avatars, copied into the site so no reader's browser asks a social server.

Downloaded at build time through the guarded fetcher (each address is a
third party's choice, so never a private one and never a file), capped at
1 MiB, decoded by Pillow from PNG, JPEG, GIF or WebP only, cropped to a small
square and written as PNG: lossless, so the same picture gives the same
bytes on every build. A picture that cannot be had costs only itself: one
WARNING, and the person's initials are shown instead.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
import warnings
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path

from .files import write_atomic
from .model import record
from .refresh import FetchSettings, Work, fetch_now
from .settings import Config

logger = logging.getLogger(__name__)

#: Pixels per side of the stored square (shown at half that, for sharp screens).
SIZE = 64
#: A picture wider or taller than this is refused before its pixels are decoded.
MAX_SIDE = 4096
FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
FOLDER = "reciprocity-avatars"
PNG = b"\x89PNG\r\n\x1a\n"
PILLOW_MISSING = (
    "RECIPROCITY_AVATARS needs Pillow (pip install 'pelican-reciprocity[avatars]'); "
    "showing initials instead"
)


@record
class Avatars:
    """What the pages show and what the build writes."""

    paths: dict[str, str] = field(default_factory=dict)  # avatar URL -> path under the output
    files: dict[str, bytes] = field(default_factory=dict)  # path under the output -> PNG


def square(body: bytes) -> tuple[bytes | None, str | None]:
    """A small square PNG of a picture, or why there is none. Never raises."""
    try:
        from PIL import Image, ImageOps
    except ImportError:
        return None, "Pillow is not installed"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(body), formats=FORMATS) as image:
                width, height = image.size
                if width > MAX_SIDE or height > MAX_SIDE or width < 1 or height < 1:
                    return None, f"a {width}x{height} picture is not an avatar"
                image.draft("RGB", (SIZE * 2, SIZE * 2))  # JPEG: decode at a fraction
                picture = ImageOps.fit(image.convert("RGBA"), (SIZE, SIZE), Image.LANCZOS)
        out = io.BytesIO()
        picture.save(out, format="PNG", optimize=True)
        return out.getvalue(), None
    except Exception as exc:  # whatever a hostile picture provokes costs only itself
        return None, f"not a picture that can be read ({type(exc).__name__})"


def file_name(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:20] + ".png"


def collect(config: Config, names: Mapping[str, str], folder: str) -> Avatars:
    """Fetch (within the cache TTL, not at all) and square each avatar, for
    ``folder`` under the output. ``names`` maps each picture's address to
    whose it is, for the WARNING when one fails."""
    urls = sorted(names)
    found = Avatars()
    if not urls:
        return found
    try:
        import PIL  # noqa: F401
    except ImportError:
        logger.warning("reciprocity: %s", PILLOW_MISSING)
        return found
    settings = FetchSettings.from_config(config)
    gathered = fetch_now(
        settings, Work(avatars=tuple(urls)), time.monotonic() + settings.fetch_deadline
    )
    squares = Path(settings.cache_path) / "avatars"
    for url in urls:
        body, error = gathered.sources.get(url, (None, "not fetched"))
        picture = None
        if body is not None:
            picture, error = _square_cached(squares, body)
        if picture is None:
            logger.warning(
                "reciprocity: avatar of %s (%s): %s; showing initials",
                names.get(url, "someone"), url, error,
            )  # fmt: skip
            continue
        path = f"{folder.strip('/')}/{FOLDER}/{file_name(url)}"
        found.paths[url], found.files[path] = path, picture
    return found


def _square_cached(folder: Path, body: bytes) -> tuple[bytes | None, str | None]:
    """``square``, kept by the picture's own digest: a warm build decodes nothing."""
    path = folder / (hashlib.sha256(body).hexdigest()[:32] + ".png")
    try:
        kept = path.read_bytes()
        if kept.startswith(PNG):
            return kept, None
    except OSError:
        pass
    picture, error = square(body)
    if picture is not None:
        try:
            write_atomic(path, picture, durable=False)
        except OSError as exc:
            logger.debug("reciprocity: cannot keep %s (%s)", path, exc)
    return picture, error
