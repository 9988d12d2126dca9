"""Tux Paint stamps: a photo-real RGBA cut-out ``X.png`` with its recorded sound ``X.ogg`` and caption ``X.txt``.
Only stamps listed in :data:`LABELS` are used: that leaves out the spoken ones (dreidels, faces, road signs) and the
ones whose sound is not the object's own."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from sounding.data.audio_prep import load_mono
from sounding.data.reserved import is_reserved
from sounding.data.sources import SourceClip

NAME = "tuxpaint"
PACKAGES = ("tuxpaint-stamps-default",)
LICENCE = "GPL-2+"
STAMPS_DIR = Path("/usr/share/tuxpaint/stamps")

#: stamp name -> class.
LABELS = {
    "frog": "frog",
    **{name: "bird" for name in ("blackbird", "crow", "cuckoo", "lark", "owl", "quetzal", "seagull", "tucan",
                                 "vulture", "heron_greatblue_flying")},
    "hen": "chicken", "rooster": "chicken",
    "drake": "duck", "duck": "duck", "gander": "duck",
    "bee": "insect", "hornet": "insect", "mosquito": "insect", "grasshopper": "insect",
    "chimp": "monkey", "gorilla": "monkey",
    "cow": "cow", "cow_white": "cow", "bull": "cow", "bison": "cow",
    "sheep": "sheep", "sheep_lamb": "sheep", "ram": "sheep",
    "goat": "goat", "mountaingoat": "goat",
    "lion": "lion", "tiger": "lion",
    "dog": "dog", "elephant": "elephant", "horse": "horse",
    "pig": "pig", "pig_golden": "pig", "pig_golden2": "pig",
    "cymbal_crash": "drum", "drum_tomtom_floor": "drum", "drumkit": "drum",
    "cello": "violin", "violin": "violin", "bassoon": "flute",
    "hammer": "hammer", "mallet_metal": "hammer", "saw": "saw",
    "lightningbolt": "thunder", "fireworks": "fireworks", "firetruck": "siren",
    "Washing-machine": "machine", "vacuum_cleaner": "machine", "toilet": "water",
}


def read_caption(text_path: Path) -> str:
    """The English caption is the first line of the stamp's .txt (the others are ``lang.utf8=...``)."""
    if not text_path.exists():
        return ""
    first = text_path.read_text(encoding="utf-8", errors="replace").splitlines()[:1]
    return first[0].strip() if first and "=" not in first[0] else ""


def clips(stamps_dir: Path = STAMPS_DIR) -> list[SourceClip]:
    found = []
    for sound in sorted(stamps_dir.rglob("*.ogg")):
        label = LABELS.get(sound.stem)
        if label is None or is_reserved(str(sound)):
            continue
        image = sound.with_suffix(".png")
        found.append(SourceClip(
            source=NAME, name=sound.stem, recording=f"{PACKAGES[0]}:{sound}", label=label,
            caption=read_caption(sound.with_suffix(".txt")) or f"A {sound.stem.replace('_', ' ')}.",
            licence=LICENCE, load_audio=lambda sound=sound: load_mono(sound),
            load_image=(lambda image=image: Image.open(image)) if image.exists() else None,
            image_source=f"tuxpaint:{image.relative_to(stamps_dir)}" if image.exists() else "",
        ))
    return found
