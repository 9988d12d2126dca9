"""Small plain-Python decisions the operators make (no bpy): where a strip goes, what a file is called, whether an
address is spelled for `sounding serve`."""
from __future__ import annotations

import json
import math
import re
from typing import Iterable
from urllib.parse import urlsplit

from .sounding_protocol.constants import LAYER_SEPARATOR

LOCAL_HOST_NAMES = ("localhost",)
# The shortest of the names a result gets: a strip's, 64 bytes of UTF-8 with a 2-byte type code and the NUL (a Sound's
# and a Speaker's hold 63 bytes in 4.5, 255 in 5.0); one name for all three keeps them alike.
MAX_NAME_BYTES = 61
ELLIPSIS = "\u2026"


def bind_address(address: str) -> str:
    """The address ``sounding serve --bind`` takes for a client address (``localhost`` spelled as 127.0.0.1)."""
    parts = urlsplit(address)
    if parts.scheme == "tcp" and parts.hostname in LOCAL_HOST_NAMES:
        return f"tcp://127.0.0.1:{parts.port}"
    return address


def duration_frames(seconds: float, fps: float) -> int:
    return max(1, math.ceil(seconds * fps - 1e-9))


def free_channel(occupied: Iterable[tuple[int, int, int]], start: int, end: int, first: int = 1,
                 last: int = 128) -> int:
    """Lowest channel >= ``first`` with no strip overlapping frames [start, end).

    ``occupied``: (channel, frame_start, frame_end) of the existing strips, end exclusive.
    """
    busy = {channel for channel, s, e in occupied if s < end and start < e}
    for channel in range(first, last + 1):
        if channel not in busy:
            return channel
    raise ValueError(f"no free sequencer channel for frames {start}-{end}")


def selection_key(image: str, objects: Iterable[tuple[list[tuple[float, float]], list[int], str]]) -> str:
    """What a result was made from: the image and each clicked object's clicks (objects without clicks are not
    sent). A result's per-object buttons name an object by its place, so they need the same clicks."""
    return json.dumps([image, [[[round(x, 2), round(y, 2), int(label)] for (x, y), label in zip(points, labels)]
                               for points, labels, _ in objects if points]])


def object_classes(pinned: list[str], scene: str, asked: str | None = None,
                   object_index: int = -1) -> tuple[list[str | None], str | None]:
    """The classes a request asks for: ``pinned`` holds each clicked object's own Sounds Like and ``scene`` the
    scene's; ``asked`` is a class for this once, for the whole selection or, with ``object_index`` >= 0, for that
    object alone. The server takes classes per object or one for the whole selection, never both, so once an object
    has its own the scene's goes to the objects without one. -> (per object, for the whole selection)."""
    own = [label.strip() or None for label in pinned]
    if asked is not None and object_index < 0:  # this once, for everything: over every object's own class
        return [None] * len(own), asked.strip() or None
    if 0 <= object_index < len(own):  # one object this once; the others keep their own, else are recognised
        own[object_index] = (asked or "").strip() or None
        return own, None
    scene = scene.strip() or None
    return ([label or scene for label in own], None) if any(own) else (own, scene)


def safe_stem(name: str) -> str:
    """A file-name-safe version of a Blender name."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "sound"


def sound_name(owner: str, sounds_like: str = "") -> str:
    """Name of the Sound, Speaker and strip made from a result: "Sounding OWNER (CLASS)".

    Fitted to Blender's name length here rather than cut by Blender mid-class or mid-character: the classes of a mix
    ("a + b + c") are dropped from the end behind an ellipsis, and where even the first class does not fit the owner
    is cut.
    """
    name = f"Sounding {owner}"
    if not sounds_like:
        return _fit(name, MAX_NAME_BYTES)
    classes = sounds_like.split(LAYER_SEPARATOR)
    for kept in range(len(classes), 0, -1):
        like = LAYER_SEPARATOR.join(classes[:kept] + ([ELLIPSIS] if kept < len(classes) else []))
        if _size(f"{name} ({like})") <= MAX_NAME_BYTES:
            return f"{name} ({like})"
    suffix = f" ({like})"
    room = MAX_NAME_BYTES - _size(suffix)
    if room < _size(f"Sounding x{ELLIPSIS}"):
        return _fit(name, MAX_NAME_BYTES)
    return _fit(name, room) + suffix


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _fit(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character (an ellipsis marks a cut)."""
    if _size(text) <= limit:
        return text
    while _size(text + ELLIPSIS) > limit:
        text = text[:-1]
    return text + ELLIPSIS


def wav_name(label: str, seed: int, variation: int, job_id: str) -> str:
    return f"{safe_stem(label)}_s{seed}_v{variation + 1}_{job_id[:8]}.wav"
