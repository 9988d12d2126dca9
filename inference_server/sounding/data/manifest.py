"""The Foley-Mini manifest: one CSV row per clip, shared by single-object clips and the objects of composed scenes."""
from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from sounding.data.reserved import ReservedSourceError, is_reserved

SPLITS = ("train", "val", "test")


@dataclass
class ClipRow:
    """Paths are relative to the dataset directory. For a scene object, ``image_path`` is the composed scene,
    ``mask_path`` this object's exact mask, ``audio_path`` this object's own sound and ``mix_path`` the scene's mix."""

    id: str
    label: str
    caption: str
    audio_path: str
    image_path: str
    mask_path: str
    source: str
    licence: str
    split: str
    #: The original recording (package and path); the unit of the no-leak split.
    recording: str
    #: Where the row's picture came from (``root:path``) and its licence; ``licence`` is the audio's.
    image_source: str = ""
    image_licence: str = ""
    duration_s: float = 0.0
    scene_id: str = ""
    scene_caption: str = ""
    mix_path: str = ""


COLUMNS = tuple(field.name for field in fields(ClipRow))


def write_manifest(path: Path, rows: list[ClipRow]) -> None:
    check_rows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))


def read_manifest(path: Path) -> list[ClipRow]:
    with open(path, newline="") as handle:
        return [ClipRow(**{**row, "duration_s": float(row["duration_s"] or 0.0)}) for row in csv.DictReader(handle)]


def check_rows(rows: list[ClipRow]) -> None:
    """The dataset's invariants: known splits, no reserved source, no recording in two splits."""
    split_of: dict[str, str] = {}
    for row in rows:
        if row.split not in SPLITS:
            raise ValueError(f"{row.id}: unknown split {row.split!r}")
        if is_reserved(row.source, row.recording, row.image_source):
            raise ReservedSourceError(f"{row.id}: reserved evaluation source ({row.recording})")
        for recording in row.recording.split(";"):
            if split_of.setdefault(recording, row.split) != row.split:
                raise ValueError(f"recording {recording} appears in {split_of[recording]} and {row.split}")
