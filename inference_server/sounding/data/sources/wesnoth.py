"""The Battle for Wesnoth (``wesnoth-1.16-data``): the few real-world effects among its unit sounds, mapped by file
name. ``ambient/birds1..3`` are counted as one recording and the two horse canters (human and elvish horse) as one:
they may be cuts or treatments of one take. Left out: voices, magic, and names that do not say what sounds
(``lightning``, ``rumble``, ``ambient/ship``)."""
from __future__ import annotations

from pathlib import Path

from sounding.data.sources import SourceClip
from sounding.data.sources.file_table import FileGroup, table_clips

NAME = "wesnoth"
PACKAGES = ("wesnoth-1.16-data",)
LICENCE = "GPL-2+"
GENERATION = 2
DATA_DIR = Path("/usr/share/games/wesnoth/1.16")
_SOUNDS = "data/core/sounds"

GROUPS = (
    FileGroup("sounds/bell", "bell", "A bell ringing.", ("sounds/bell.wav",)),
    FileGroup(f"{_SOUNDS}/gunshot", "gun", "A gunshot.", (f"{_SOUNDS}/gunshot.wav",)),
    FileGroup(f"{_SOUNDS}/thunderstick", "gun", "A musket firing.", (f"{_SOUNDS}/thunderstick.ogg",)),
    FileGroup(f"{_SOUNDS}/explosion", "explosion", "An explosion.", (f"{_SOUNDS}/explosion.ogg",)),
    FileGroup(f"{_SOUNDS}/horse-canter", "horse", "A horse cantering.",
              (f"{_SOUNDS}/horse-canter.wav", f"{_SOUNDS}/horse-elf-canter.wav")),
    FileGroup(f"{_SOUNDS}/ambient/birds", "bird", "Birds singing.", (f"{_SOUNDS}/ambient/birds*.ogg",)),
)


def clips(data_dir: Path = DATA_DIR) -> list[SourceClip]:
    return table_clips(NAME, PACKAGES[0], data_dir, GROUPS, LICENCE, GENERATION)
