"""0 A.D. (``0ad-data``, a 1.4 GB download): animal calls, ambient water and weather, footsteps on six surfaces,
saws, gates and hooves, read straight out of ``public.zip``. Files are mapped by their own name, so the templates that
reuse lion sounds for bears and tigers add no label noise. Numbered files of one family (``cattle_01`` .. ``07``)
count as one recording: they may be cuts of one session."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path, PurePosixPath


from sounding.audio.io import decode_audio
from sounding.data.sources import SourceClip

NAME = "zeroad"
PACKAGES = ("0ad-data",)
LICENCE = "CC-BY-SA-3.0"
ARCHIVE = Path("/usr/share/games/0ad/mods/public/public.zip")

#: (folder in the archive, file-name prefix) -> (caption, class); the first match wins.
RULES = (
    ("audio/actor/fauna/animal", "cattle", "Cattle lowing.", "cow"),
    ("audio/actor/fauna/animal", "chicken", "A chicken clucking.", "chicken"),
    ("audio/actor/fauna/animal", "elephant", "An elephant trumpeting.", "elephant"),
    ("audio/actor/fauna/animal", "horse", "A horse.", "horse"),
    ("audio/actor/fauna/animal", "lion", "A lion roaring.", "lion"),
    ("audio/actor/fauna/animal", "pig", "A pig grunting.", "pig"),
    ("audio/actor/fauna/animal", "sheep", "A sheep bleating.", "sheep"),
    ("audio/actor/fauna/animal", "peacock", "A peacock calling.", "bird"),
    ("audio/actor/fauna/animal", "flamingo", "Flamingos calling.", "bird"),
    ("audio/ambient/water", "river", "A river flowing.", "water"),
    ("audio/ambient/water", "waterfall", "A waterfall.", "water"),
    ("audio/ambient/water", "wave", "Waves breaking.", "water"),
    ("audio/ambient/weather", "rain", "Rain falling.", "rain"),
    ("audio/ambient/weather", "thunder", "Thunder.", "thunder"),
    ("audio/ambient/weather", "wind", "Wind blowing.", "wind"),
    ("audio/ambient/weather", "snowstorm", "A snowstorm.", "wind"),
    ("audio/actor/singlesteps", "fs_", "A footstep.", "footsteps"),
    ("audio/actor/human/movement/Footsteps", "Foo", "Footsteps.", "footsteps"),
    ("audio/resource/construction", "con_saw", "Sawing wood.", "saw"),
    ("audio/resource/construction", "con_wood", "Hammering wood.", "hammer"),
    ("audio/actor/gate", "stonegate", "A heavy gate.", "door"),
    ("audio/actor/mounted/movement", "mstep", "Hooves.", "horse"),
)
_SURFACES = ("grass", "gravel", "rock", "sand", "snow", "wood")


def recording_of(folder: str, stem: str) -> str:
    """Footsteps group by surface (single steps may be cut from the walking loops), animal calls by animal, other
    files by their family name without the trailing number."""
    lowered = stem.lower()
    for surface in _SURFACES:
        if "step" in folder.lower() or lowered.startswith("fs_"):
            if surface in lowered:
                return f"footsteps-{surface}"
    family = stem.split("_")[0] if folder.startswith("audio/actor/fauna") else re.sub(r"_?\d+$", "", stem)
    return f"{folder}/{family}"


def _match(folder: str, stem: str):
    for rule_folder, prefix, caption, label in RULES:
        if folder == rule_folder and stem.startswith(prefix):
            return caption, label
    return None


def _decode(archive: Path, member: str):
    with zipfile.ZipFile(archive) as bundle:
        return decode_audio(bundle.read(member))


def clips(archive: Path = ARCHIVE) -> list[SourceClip]:
    with zipfile.ZipFile(archive) as bundle:
        members = sorted(name for name in bundle.namelist() if name.startswith("audio/") and name.endswith(".ogg"))
    found = []
    for member in members:
        path = PurePosixPath(member)
        folder, stem = str(path.parent), path.stem
        matched = _match(folder, stem)
        if matched is None:
            continue
        caption, label = matched
        found.append(SourceClip(
            source=NAME, name=stem, recording=f"{PACKAGES[0]}:{recording_of(folder, stem)}", label=label,
            caption=caption, licence=LICENCE, load_audio=lambda member=member: _decode(archive, member),
        ))
    return found
