"""GCompris (Qt .rcc bundles): the ``instruments`` activity (recordings of 26 instruments, each with an SVG drawing)
and the ``memory-sound`` activity (everyday sounds). ``explore_farm_animals`` is reserved for independent evaluation
and never opened."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

from PIL import Image

from sounding.data.qt_rcc import RccBundle
from sounding.data.reserved import is_reserved
from sounding.audio.io import decode_audio
from sounding.data.sources import SourceClip

NAME = "gcompris"
PACKAGES = ("gcompris-qt-data", "librsvg2-bin")
RCC_DIR = Path("/usr/share/gcompris-qt/rcc")
INSTRUMENTS = "instruments"
MEMORY_SOUNDS = "memory-sound"

#: instruments/resource/<name>.ogg -> class. drum_kit.ogg is left out: its licence (CC Sampling Plus 1.0) is not free.
INSTRUMENT_LABELS = {
    "banjo": "guitar", "guitar": "guitar", "electric_guitar": "guitar",
    "cello": "violin", "violin": "violin",
    "clarinet": "flute", "flute_traversiere": "flute", "saxophone": "flute",
    "horn": "trumpet", "trombone": "trumpet", "trumpet": "trumpet", "tuba": "trumpet",
    "bongo": "drum", "cymbal": "drum", "snare_drum": "drum", "tambourine": "drum", "timpani": "drum",
    "piano": "piano", "triangle": "bell",
}
#: memory-sound/resource/<name>.ogg -> (caption, class).
MEMORY_LABELS = {
    "LRApplauses_1_LA_cut": ("Applause.", "applause"),
    "LRBark_1_LA_cut": ("A dog barking.", "dog"), "LRBark_3_LA_cut": ("A dog barking.", "dog"),
    "LRBuddhist_gong_05_LA": ("A gong.", "bell"),
    "LRDoor_Open_2_LA": ("A door opening.", "door"),
    **{f"LRFactory_noise_0{n}_LA": ("Factory noise.", "machine") for n in range(1, 7)},
    "LRFrogsInPondDuringStormLACut": ("Frogs in a pond.", "frog"),
    "LRHeart_beat_01_LA": ("A heart beating.", "heartbeat"),
    "LRRain_in_garden_01_LA_cut": ("Rain in a garden.", "rain"),
    "LRStartAndStopCarEngine1LACut": ("A car engine starting and stopping.", "car"),
    "LRTrain_slowing_down_01_LA_cut": ("A train slowing down.", "train"),
    "guitar_melody": ("A guitar melody.", "guitar"),
    **{f"guitar_son{n}": ("A guitar.", "guitar") for n in range(1, 5)},
}


def session_of(stem: str) -> str:
    """Numbered clips (``LRBark_1_LA_cut``, ``guitar_son3``) are likely cut from one recording session, so they count
    as one recording for the split."""
    return re.sub(r"_\d+(_LA)?(_cut)?$|\d+$", "", stem)



def render_svg(svg: bytes, width: int = 512) -> Image.Image:
    """SVG -> RGBA through librsvg's command line (Pillow cannot read SVG)."""
    if shutil.which("rsvg-convert") is None:
        raise FileNotFoundError("rsvg-convert (Debian package librsvg2-bin) is needed for GCompris drawings")
    png = subprocess.run(["rsvg-convert", "-w", str(width), "-f", "png"], input=svg, check=True,
                         capture_output=True, timeout=60).stdout
    return Image.open(io.BytesIO(png))


def _activity_clips(activity: str) -> list[SourceClip]:
    rcc = RCC_DIR / f"{activity}.rcc"
    if is_reserved(str(rcc)):
        raise ValueError(f"{rcc} is reserved for independent evaluation")
    bundle = RccBundle.open(rcc)
    resource = f"/gcompris/src/activities/{activity}/resource/"
    found, files = [], set(bundle.paths())
    for path in sorted(files):
        if not (path.startswith(resource) and path.endswith(".ogg")):
            continue
        stem = Path(path).stem
        if activity == INSTRUMENTS and stem in INSTRUMENT_LABELS:
            label, caption, licence = INSTRUMENT_LABELS[stem], f"A {stem.replace('_', ' ')}.", "GPL-3.0+"
            drawing = resource + stem + ".svg"
            load_image = None
            if drawing in files:
                load_image = lambda drawing=drawing: render_svg(bundle.read(drawing))  # noqa: E731
            image_source = f"gcompris:{drawing}" if load_image else ""
        elif activity == MEMORY_SOUNDS and stem in MEMORY_LABELS:
            (caption, label), licence, load_image, image_source = MEMORY_LABELS[stem], "FAL-1.2", None, ""
        else:
            continue
        found.append(SourceClip(
            source=NAME, name=stem, recording=f"gcompris-qt-data:{activity}.rcc{resource}{session_of(stem)}",
            label=label, caption=caption,
            licence=licence, load_audio=lambda path=path: decode_audio(bundle.read(path)),
            load_image=load_image, image_source=image_source,
        ))
    return found


def clips() -> list[SourceClip]:
    return _activity_clips(INSTRUMENTS) + _activity_clips(MEMORY_SOUNDS)
