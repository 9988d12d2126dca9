"""Small plain-Python decisions the operators make (no bpy): where a strip goes, what a file is called, whether an
address is spelled for `sounding serve`."""
from __future__ import annotations

import math
import re
from typing import Iterable
from urllib.parse import urlsplit

LOCAL_HOST_NAMES = ("localhost",)


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


def safe_stem(name: str) -> str:
    """A file-name-safe version of a Blender name."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "sound"


def wav_name(label: str, seed: int, variation: int, job_id: str) -> str:
    return f"{safe_stem(label)}_s{seed}_v{variation + 1}_{job_id[:8]}.wav"
