"""OpenTTD's OpenSFX: 73 labelled WAV clips packed in ``opensfx.cat`` (a table of (offset, size) pairs, then per
clip a length-prefixed description followed by the WAV bytes). Each description names its author and licence."""
from __future__ import annotations

import re
import struct
from pathlib import Path


from sounding.audio.io import decode_audio
from sounding.data.sources import SourceClip

NAME = "opensfx"
PACKAGES = ("openttd-opensfx",)
CATALOGUE = Path("/usr/share/games/openttd/baseset/opensfx/opensfx.cat")

#: description (the quoted title) -> class.
LABELS = {
    "Steam train station departure": "train", "Steam engine going in tunnel": "train",
    "Diesel/electric train station departure": "train", "Maglev train station departure": "train",
    "Monorail train station departure": "train",
    "Ship horn": "ship", "Ferry horn": "ship",
    "Propeller plane start": "airplane", "Early jet take off": "airplane", "Mach 1+ Jet take off": "airplane",
    "Modern jet take off": "airplane",
    "Helicopter": "helicopter",
    "Truck/old bus start, pull away": "car", "Modern bus start": "car", "Old bus start": "car",
    "Crash": "crash", "Big crash": "crash", "Explosion": "explosion", "Applause": "applause",
    "Jackhammer": "machine", "Mining machinery": "machine", "Lumber mill: Chainsaw": "saw",
    "Sheep": "sheep", "Cow": "cow", "Horse": "horse", "Wind": "wind", "Heavy wind": "wind",
    "Tropical: Bird (1)": "bird", "Tropical: Bird (2)": "bird", "Tropical: Lion roar": "lion",
    "Tropical: Monkeys": "monkey",
}
_LICENCES = {
    "Creative Commons Zero 1.0": "CC0-1.0",
    "Creative Commons Attribution 3.0 Unported": "CC-BY-3.0",
    "Creative Commons Attribution-ShareAlike 3.0 Unported": "CC-BY-SA-3.0",
}


def read_catalogue(data: bytes) -> list[tuple[str, bytes]]:
    """-> [(description, wav bytes)] in catalogue order."""
    count = (struct.unpack("<I", data[:4])[0] & 0x7FFFFFFF) // 8
    entries = []
    for index in range(count):
        offset, size = struct.unpack("<II", data[index * 8: index * 8 + 8])
        blob = data[offset & 0x7FFFFFFF: (offset & 0x7FFFFFFF) + size]  # the high bit of the offset is a flag
        name_length = blob[0]
        entries.append((blob[1: 1 + name_length].rstrip(b"\0").decode("latin-1"), blob[1 + name_length:]))
    return entries


def title_and_licence(description: str) -> tuple[str, str]:
    title = re.match(r'\s*"([^"]*)"', description)
    licence = re.search(r"License:\s*([^.]+(?:\.\d+)*[^.]*)\.", description)
    licence_text = licence.group(1).strip() if licence else ""
    return (title.group(1) if title else description.strip()), _LICENCES.get(licence_text, licence_text or "unknown")



def clips(catalogue: Path = CATALOGUE) -> list[SourceClip]:
    found = []
    for index, (description, wav) in enumerate(read_catalogue(catalogue.read_bytes())):
        title, licence = title_and_licence(description)
        label = LABELS.get(title)
        if label is None:
            continue
        found.append(SourceClip(
            source=NAME, name=title, recording=f"{PACKAGES[0]}:opensfx.cat#{index:02d}-{title}", label=label,
            caption=f"{title}.", licence=licence, load_audio=lambda wav=wav: decode_audio(wav),
        ))
    return found
