"""Hedgewars (``hedgewars-data``): weapon, animal and vehicle effects from ``Data/Sounds``, mapped by file name; the
hedgehogs' voices, music and the cartoon effects are left out. Each file is its own recording."""
from __future__ import annotations

from pathlib import Path

from sounding.data.sources import SourceClip
from sounding.data.sources.file_table import FileGroup, table_clips

NAME = "hedgewars"
PACKAGES = ("hedgewars-data",)
# debian/copyright: "Files: share/hedgewars/Data/Sounds/*  License: GFDL-1.3" (the Droplet files, CC-BY-SA-3.0, are
# not used).
LICENCE = "GFDL-1.3"
GENERATION = 2
SOUNDS_DIR = Path("/usr/share/games/hedgewars/Data/Sounds")

#: file stem -> (class, caption).
FILES = {
    "explosion": ("explosion", "An explosion."),
    "gun": ("gun", "A gunshot."),
    "shotgunfire": ("gun", "A shotgun firing."),
    "minigun": ("gun", "A machine gun firing."),
    "hammer": ("hammer", "A hammer blow."),
    "bee": ("insect", "A bee buzzing."),
    "plane": ("airplane", "An airplane flying over."),
    "steps": ("footsteps", "Footsteps."),
    "splash": ("water", "A splash in water."),
}
GROUPS = tuple(FileGroup(f"Data/Sounds/{stem}", label, caption, (f"{stem}.ogg",))
               for stem, (label, caption) in FILES.items())


def clips(sounds_dir: Path = SOUNDS_DIR) -> list[SourceClip]:
    return table_clips(NAME, PACKAGES[0], sounds_dir, GROUPS, LICENCE, GENERATION)
