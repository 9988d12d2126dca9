"""One module per source. Each exposes ``NAME``, ``PACKAGES`` (the Debian packages it reads) and ``clips()``, which
lists :class:`SourceClip` objects cheaply; decoding and rendering happen only in ``SourceClip.load_audio`` so that a
cached build never pays for them."""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image

#: Source modules in build order; the optional ones are built only when asked for.
SOURCE_MODULES = {
    "tuxpaint": "sounding.data.sources.tuxpaint",
    "opensfx": "sounding.data.sources.opensfx",
    "gs_sfx": "sounding.data.sources.gs_sfx",
    "gcompris": "sounding.data.sources.gcompris",
    "supertuxkart": "sounding.data.sources.supertuxkart",
    "zeroad": "sounding.data.sources.zeroad",
    # Generation 2 (split on their own, see sounding.data.splits): game sound effects mapped by file name.
    "widelands": "sounding.data.sources.widelands",
    "megaglest": "sounding.data.sources.megaglest",
    "hedgewars": "sounding.data.sources.hedgewars",
    "wesnoth": "sounding.data.sources.wesnoth",
}
OPTIONAL_SOURCES = ("zeroad",)


@dataclass
class SourceClip:
    """One clip a source offers. ``recording`` names the original file (the unit of the no-leak split); rendered
    variants of one recording share it and differ in ``variant``."""

    source: str
    #: Short human name of the clip ("frog", "Ship horn"); makes the id readable.
    name: str
    recording: str
    label: str
    caption: str
    licence: str
    load_audio: Callable[[], tuple[np.ndarray, int]] = field(repr=False)
    variant: str = ""
    #: The source's own picture of this object, if it has one (any PIL image; it becomes a cut-out later).
    load_image: Callable[[], Image.Image] | None = field(default=None, repr=False)
    image_source: str = ""
    #: The split generation (see :mod:`sounding.data.splits`): 1 for the original sources, 2 for those added with
    #: issue 4. Each generation is split on its own, so a new source never moves an old recording to another split.
    generation: int = 1

    @property
    def id(self) -> str:
        digest = abs(hash_text(self.recording)) % 10_000
        return f"{self.source}-{slug(self.name)}-{digest:04d}" + (f"-{self.variant}" if self.variant else "")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "clip"


def hash_text(text: str) -> int:
    """A hash that is stable across processes (``hash()`` on str is salted)."""
    import hashlib

    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "little", signed=True)


def load_source(name: str):
    if name not in SOURCE_MODULES:
        raise ValueError(f"unknown source {name!r}; known: {', '.join(SOURCE_MODULES)}")
    return importlib.import_module(SOURCE_MODULES[name])
