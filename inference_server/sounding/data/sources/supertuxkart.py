"""SuperTuxKart sound effects (``data/sfx/*.ogg``); the per-file licence is read from the package's machine-readable
Debian copyright file."""
from __future__ import annotations

import gzip
import re
from pathlib import Path

from sounding.data.audio_prep import load_mono
from sounding.data.sources import SourceClip

NAME = "supertuxkart"
PACKAGES = ("supertuxkart-data",)
SFX_DIR = Path("/usr/share/games/supertuxkart/data/sfx")
COPYRIGHT = Path("/usr/share/doc/supertuxkart-data/copyright")

#: file stem -> (caption, class).
LABELS = {
    "airplane_jetEngine": ("A jet airplane flying over.", "airplane"),
    "anvil": ("A hammer striking an anvil.", "hammer"), "hammer": ("A hammer blow.", "hammer"),
    "car_accel": ("A car accelerating.", "car"), "car_revup": ("A car engine revving.", "car"),
    "engine_large": ("A large engine running.", "car"), "engine_small": ("A small engine running.", "car"),
    "crash": ("A crash.", "crash"), "crash2": ("A crash.", "crash"), "crash3": ("A crash.", "crash"),
    "exotic-birds": ("Exotic birds singing.", "bird"), "exotic-birds_2": ("Exotic birds singing.", "bird"),
    "explosion": ("An explosion.", "explosion"), "fireworks_show": ("A fireworks show.", "fireworks"),
    "gnu_flute": ("A flute.", "flute"), "machine_sound": ("A machine running.", "machine"),
    "rain": ("Rain falling.", "rain"), "thunder": ("Thunder.", "thunder"),
    "river_loop": ("A river flowing.", "water"), "waterfall_loop_2": ("A waterfall.", "water"),
    "splash": ("A splash in water.", "water"),
}
#: Files mixed from another file's recording share that recording, so they land in the same split.
SAME_RECORDING = {"engine_large": "car_accel"}


def read_dep5_licences(text: str) -> dict[str, str]:
    """Machine-readable debian/copyright -> {file path: licence short name}."""
    licences = {}
    for stanza in re.split(r"\n\s*\n", text):
        files = re.search(r"^Files:(.*?)(?=^\S)", stanza + "\nEnd:", re.MULTILINE | re.DOTALL)
        licence = re.search(r"^License:\s*(.+)$", stanza, re.MULTILINE)
        if files and licence:
            for path in files.group(1).split():
                licences[path] = licence.group(1).strip()
    return licences


def _copyright_text(path: Path) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8", errors="replace")
    gz = path.with_suffix(".gz")
    return gzip.decompress(gz.read_bytes()).decode("utf-8", errors="replace") if gz.exists() else ""


def clips(sfx_dir: Path = SFX_DIR) -> list[SourceClip]:
    licences = read_dep5_licences(_copyright_text(COPYRIGHT))
    found = []
    for stem, (caption, label) in LABELS.items():
        sound = sfx_dir / f"{stem}.ogg"
        if not sound.exists():
            continue
        recording_stem = SAME_RECORDING.get(stem, stem)
        found.append(SourceClip(
            source=NAME, name=stem, recording=f"{PACKAGES[0]}:data/sfx/{recording_stem}.ogg", label=label,
            caption=caption, licence=licences.get(f"data/sfx/{stem}.ogg", "see debian/copyright"),
            load_audio=lambda sound=sound: load_mono(sound),
        ))
    return found
