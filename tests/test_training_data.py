"""Manifest rows for training: a multi-object scene also gives one row for clicking all of its objects."""
import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sounding.training.data import load_masks, read_rows

COLUMNS = ["id", "caption", "audio_path", "image_path", "mask_path", "split", "scene_id", "scene_caption", "mix_path"]


def write_scene_manifest(root: Path, mix_path: str = "scene/mix.wav") -> Path:
    """One single-object row and a two-object scene (left and right halves of a 4 x 6 picture)."""
    (root / "scene").mkdir()
    for name, columns in (("left", slice(0, 3)), ("right", slice(3, 6))):
        mask = np.zeros((4, 6), np.uint8)
        mask[:, columns] = 255
        Image.fromarray(mask).save(root / "scene" / f"{name}.png")
    rows = [["solo", "A bell.", "bell.wav", "bell.png", "", "train", "", "", ""]]
    for name, caption in (("left", "Dog."), ("right", "Cow.")):
        rows.append([f"scene-{name}", caption, f"{name}.wav", "scene/image.png", f"scene/{name}.png", "train",
                     "scene", "A dog barking and a cow mooing.", mix_path])
    rows.append(["other", "A cat.", "cat.wav", "cat.png", "", "test", "", "", ""])
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return root / "manifest.csv"


def test_scene_mixes_add_one_union_row_per_scene(tmp_path):
    manifest = write_scene_manifest(tmp_path)
    plain = read_rows(manifest, "train")
    assert [row.caption for row in plain] == ["A bell.", "Dog.", "Cow."]
    assert plain[0].masks == () and plain[1].masks == (tmp_path / "scene/left.png",)
    rows = read_rows(manifest, "train", scene_mixes=True)
    assert rows[:3] == plain and len(rows) == 4
    mixed = rows[3]
    assert mixed.caption == "A dog barking and a cow mooing."
    assert mixed.audio == tmp_path / "scene/mix.wav" and mixed.image == tmp_path / "scene/image.png"
    assert mixed.masks == (tmp_path / "scene/left.png", tmp_path / "scene/right.png")
    assert load_masks(mixed.masks).all() and load_masks(plain[1].masks)[:, :3].all()
    assert not load_masks(plain[1].masks)[:, 3:].any()


def test_scene_without_its_mix_is_an_error(tmp_path):
    manifest = write_scene_manifest(tmp_path, mix_path="")
    assert len(read_rows(manifest, "train")) == 3  # not asked for: no error
    with pytest.raises(ValueError, match="scene lacks \\['mix_path'\\]"):
        read_rows(manifest, "train", scene_mixes=True)
