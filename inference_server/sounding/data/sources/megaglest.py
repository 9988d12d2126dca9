"""MegaGlest (``megaglest-data``): animal units, tileset ambiences and a few work sounds, mapped by file name. All of
one unit's files (``cow_ack1`` .. ``cow_select3``) are one recording: they may be cuts of one session. Left out:
the voices (every human and monster unit), the tileset ``rain.ogg`` that is SuperTuxKart's ``rain.ogg`` (already a
generation-1 recording) and ``mudchute_cow_1.ogg``, which is Tux Paint's ``cow_white.ogg`` (both byte-identical)."""
from __future__ import annotations

from pathlib import Path

from sounding.data.sources import SourceClip
from sounding.data.sources.file_table import FileGroup, table_clips

NAME = "megaglest"
PACKAGES = ("megaglest-data",)
LICENCE = "CC-BY-SA-3.0"
GENERATION = 2
DATA_DIR = Path("/usr/share/games/megaglest")
_COMMON = "techs/megapack/commondata/sounds"
_UNITS = "techs/megapack/factions"

GROUPS = (
    FileGroup(f"{_COMMON}/cow", "cow", "A cow mooing.", (f"{_COMMON}/cow_*.wav",)),
    FileGroup(f"{_UNITS}/indian/units/bull", "cow", "A bull bellowing.", (f"{_UNITS}/indian/units/bull/sounds/*.wav",)),
    FileGroup(f"{_COMMON}/pig", "pig", "A pig grunting.",
              (f"{_COMMON}/pig_*.wav", f"{_UNITS}/norsemen/units/wild_sow/sounds/pig_*.wav")),
    FileGroup(f"{_UNITS}/egypt/units/chicken", "chicken", "A chicken clucking.",
              (f"{_UNITS}/egypt/units/chicken/sounds/*.wav",)),
    FileGroup("tilesets/chicken", "chicken", "A chicken clucking.", ("tilesets/*/sounds/chicken.wav",)),
    FileGroup("tilesets/autumn/rooster", "chicken", "A rooster crowing.", ("tilesets/autumn/sounds/rooster.ogg",)),
    FileGroup(f"{_UNITS}/persian/units/sheep", "sheep", "A sheep bleating.",
              (f"{_UNITS}/persian/units/sheep/sounds/*.wav",)),
    FileGroup(f"{_UNITS}/persian/units/elephant", "elephant", "An elephant trumpeting.",
              (f"{_UNITS}/persian/units/elephant/sounds/ele[0-9]*.wav",
               f"{_UNITS}/persian/units/elephant/sounds/eleattack*.wav")),
    FileGroup(f"{_UNITS}/indian/units/beehive", "insect", "Bees buzzing.",
              (f"{_UNITS}/indian/units/beehive/sounds/bee*.wav",)),
    FileGroup("tilesets/autumn/owl", "bird", "An owl hooting.", ("tilesets/autumn/sounds/owl.ogg",)),
    FileGroup("tilesets/hawk", "bird", "A hawk screeching.", ("tilesets/desert*/sounds/hawk.ogg",)),
    # Three distinct rain recordings (waveform cross-correlation below 0.1 between them).
    FileGroup("tilesets/desert2/rain", "rain", "Rain falling.", ("tilesets/desert*/sounds/rain.wav",)),
    FileGroup("tilesets/autumn/rain", "rain", "Rain falling.", ("tilesets/autumn/sounds/rain.ogg",)),
    FileGroup("tilesets/birch_forest/rain", "rain", "Rain falling.", ("tilesets/birch_forest/sounds/rain.ogg",)),
    # The two tilesets' wind.ogg files are two encodings of one recording (correlation 0.999).
    FileGroup("tilesets/wind", "wind", "Wind blowing.", ("tilesets/winter*/sounds/wind.ogg",)),
    FileGroup(f"{_COMMON}/anvil", "hammer", "A hammer striking an anvil.", (f"{_COMMON}/anvil*.wav",)),
    FileGroup("data/core/water_sounds/water", "water", "A splash in water.", ("data/core/water_sounds/water*.wav",)),
)


def clips(data_dir: Path = DATA_DIR) -> list[SourceClip]:
    return table_clips(NAME, PACKAGES[0], data_dir, GROUPS, LICENCE, GENERATION)
