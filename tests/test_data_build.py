"""End-to-end build on a synthetic source (no Debian packages needed): splits without leaks, reserved clips
dropped, exact masks, scene mixes, and a cached second run."""
import csv
import time
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
from PIL import Image

from sounding.data import build as build_module
from sounding.data.build import BuildConfig, build_dataset, scene_caption
from sounding.data.classes import CLASSES, TRAIN_ONLY_IMAGES
from sounding.data.compose import ComposeConfig, compose_scene
from sounding.data.images import IMAGE_ROOTS, to_cutout
from sounding.data.manifest import read_manifest
from sounding.data.sources import SourceClip

FREQUENCIES = {"dog": 300.0, "bird": 2500.0, "car": 90.0}


def _tone(frequency, seconds=0.6, rate=22_050):
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), rate


def _picture(colour):
    image = np.zeros((40, 60, 4), dtype=np.uint8)
    image[5:35, 10:50] = (*colour, 255)
    return Image.fromarray(image, "RGBA")


def fake_source(reserved=True):
    clips = []
    for label, frequency in FREQUENCIES.items():
        for index in range(4):
            colour = (40 * index + 60, 200 - 40 * index, 120)
            clips.append(SourceClip(
                source="fake", name=f"{label}{index}", recording=f"fake:{label}/{index}.wav", label=label,
                caption=f"A {label}.", licence="CC0-1.0",
                load_audio=lambda f=frequency * (1 + 0.05 * index): _tone(f),
                load_image=lambda colour=colour: _picture(colour), image_source=f"fake:{label}{index}.png"))
    if reserved:
        clips.append(SourceClip(
            source="fake", name="cow", recording="gcompris-qt-data:explore_farm_animals.rcc/cow.ogg", label="dog",
            caption="A cow.", licence="GPL-3.0+", load_audio=lambda: _tone(500.0),
            load_image=lambda: _picture((1, 2, 3))))
    return SimpleNamespace(PACKAGES=(), clips=lambda: clips)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("foley-mini")
    config = BuildConfig(out=out, install=False, scenes_per_clip=0.5, compose=ComposeConfig(size=96))
    started = time.monotonic()
    manifest = build_dataset(config, modules=[fake_source()])
    return out, manifest, config, time.monotonic() - started


def test_manifest_has_every_clip_but_the_reserved_one(built):
    out, manifest, _, _ = built
    rows = read_manifest(manifest)
    singles = [row for row in rows if not row.scene_id]
    assert len(singles) == 12
    assert not any("explore_farm_animals" in row.recording or row.caption == "A cow." for row in rows)
    with open(manifest, newline="") as handle:
        header = next(csv.reader(handle))
    for column in ("id", "label", "caption", "audio_path", "image_path", "mask_path", "source", "licence", "split"):
        assert column in header


def test_no_recording_in_two_splits_and_every_class_tested(built):
    rows = read_manifest(built[1])
    split_of = {}
    for row in rows:
        assert split_of.setdefault(row.recording, row.split) == row.split
    for label in FREQUENCIES:
        assert {row.split for row in rows if row.label == label and not row.scene_id} >= {"train", "test"}


def test_audio_is_16k_mono_and_masks_are_exact(built):
    out, manifest, config, _ = built
    for row in read_manifest(manifest):
        info = soundfile.info(str(out / row.audio_path))
        assert info.samplerate == 16_000 and info.channels == 1
        mask = np.asarray(Image.open(out / row.mask_path))
        assert set(np.unique(mask)) <= {0, 255} and mask.any()
        image = np.asarray(Image.open(out / row.image_path).convert("RGB")).astype(int)
        assert image.shape[:2] == mask.shape == (config.compose.size,) * 2


def test_scenes_hold_two_or_three_objects_from_one_split(built):
    out, manifest, _, _ = built
    scenes = {}
    for row in read_manifest(manifest):
        if row.scene_id:
            scenes.setdefault(row.scene_id, []).append(row)
    assert scenes
    for objects in scenes.values():
        assert 2 <= len(objects) <= 3 and len({row.split for row in objects}) == 1
        assert len({row.label for row in objects}) == len(objects)
        masks = [np.asarray(Image.open(out / row.mask_path)) > 0 for row in objects]
        assert not np.any(np.sum(masks, axis=0) > 1)  # visible parts never overlap
        assert objects[0].scene_caption == scene_caption([row.label for row in objects])
        mix, rate = soundfile.read(str(out / objects[0].mix_path))
        longest = max(soundfile.info(str(out / row.audio_path)).frames for row in objects)
        assert rate == 16_000 and len(mix) == longest


def test_second_run_is_cached_and_identical(built):
    out, manifest, config, first_seconds = built
    before = manifest.read_text()
    mtimes = {path: path.stat().st_mtime_ns for path in out.rglob("*.png")}
    started = time.monotonic()
    build_dataset(config, modules=[fake_source()])
    assert manifest.read_text() == before
    assert {path: path.stat().st_mtime_ns for path in out.rglob("*.png")} == mtimes
    assert time.monotonic() - started < max(first_seconds, 5.0)


def test_scene_masks_follow_occlusion():
    red, blue = _picture((255, 0, 0)), _picture((0, 0, 255))
    image, masks = compose_scene([red, blue], np.random.default_rng(3), ComposeConfig(size=64, min_visible=0.3))
    pixels = np.asarray(image).astype(int)
    assert np.all(pixels[masks[0]] == (255, 0, 0)) and np.all(pixels[masks[1]] == (0, 0, 255))
    with pytest.raises(ValueError):
        compose_scene([red] * 4, np.random.default_rng(0))


def test_cutout_of_an_opaque_picture_uses_the_corner_colour():
    picture = np.full((50, 50, 3), 255, dtype=np.uint8)
    picture[10:30, 20:40] = (10, 20, 30)
    cutout = np.asarray(to_cutout(Image.fromarray(picture, "RGB"), size=256))
    assert cutout.shape[:2] == (20, 20) and set(np.unique(cutout[..., 3])) == {255}  # cropped to the object


def test_a_generation_2_source_keeps_every_old_split(built, tmp_path):
    """The build passes each clip's generation to the split: new recordings of old classes get their own
    train/test, and every row of the first build keeps its split, audio and picture."""
    out, manifest, config, _ = built
    clips = [SourceClip(
        source="fake2", name=f"{label}{index}", recording=f"fake2:{label}/{index}.wav", label=label,
        caption=f"A {label}.", licence="CC0-1.0", load_audio=lambda f=frequency * (1.5 + 0.05 * index): _tone(f),
        load_image=lambda: _picture((200, 30, 30)), image_source=f"fake2:{label}{index}.png", generation=2)
        for label, frequency in FREQUENCIES.items() for index in range(3)]
    second = SimpleNamespace(PACKAGES=(), clips=lambda: clips)
    rows = read_manifest(build_dataset(BuildConfig(out=tmp_path, install=False, scenes_per_clip=0.0,
                                                   compose=config.compose), modules=[fake_source(), second]))
    singles = {row.id: row for row in rows if not row.scene_id}
    for row in read_manifest(manifest):
        if not row.scene_id:
            assert (singles[row.id].split, singles[row.id].audio_path, singles[row.id].image_path) == (
                row.split, row.audio_path, row.image_path)
    for label in FREQUENCIES:
        assert sorted(row.split for row in singles.values() if row.source == "fake2" and row.label == label) == [
            "test", "train", "train"]


def test_train_only_pictures_add_train_rows_and_move_nothing(built, tmp_path, monkeypatch):
    """A train-only picture becomes one more train row with a train clip's audio and recording; every row of the
    build without it, scenes included, stays as it was."""
    out, manifest, config, _ = built
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    _picture((250, 250, 10)).save(pictures / "dog_extra.png")
    monkeypatch.setitem(IMAGE_ROOTS, "fake", (pictures, "CC0-1.0"))
    monkeypatch.setattr(build_module, "ensure_packages", lambda packages, install: None)
    rows = read_manifest(build_dataset(BuildConfig(
        out=tmp_path / "data", install=False, scenes_per_clip=config.scenes_per_clip, compose=config.compose,
        train_only_images={"dog": ("fake:dog_extra.png",), "bird": ()}), modules=[fake_source()]))
    before = {row.id: row for row in read_manifest(manifest)}
    new = [row for row in rows if row.id not in before]
    assert [(row.label, row.split, row.image_source, row.image_licence) for row in new] == [
        ("dog", "train", "fake:dog_extra.png", "CC0-1.0")]
    clip = next(row for row in before.values() if row.audio_path == new[0].audio_path and not row.scene_id)
    assert (clip.split, clip.label, clip.recording) == ("train", "dog", new[0].recording)
    mask = np.asarray(Image.open(tmp_path / "data" / new[0].mask_path)) > 0
    assert 0 < mask.mean() < 1
    for row in rows:
        if row.id in before:
            old = before[row.id]
            assert (row.split, row.audio_path, row.image_path, row.mask_path) == (
                old.split, old.audio_path, old.image_path, old.mask_path)
    assert len(rows) == len(before) + 1


def test_a_missing_train_only_picture_is_an_error(built, tmp_path, monkeypatch):
    monkeypatch.setitem(IMAGE_ROOTS, "fake", (tmp_path, "CC0-1.0"))
    monkeypatch.setattr(build_module, "ensure_packages", lambda packages, install: None)
    with pytest.raises(FileNotFoundError, match="1 listed, 0 installed"):
        build_dataset(BuildConfig(out=tmp_path / "data", install=False, scenes_per_clip=0.0,
                                  compose=built[2].compose, train_only_images={"dog": ("fake:nowhere.png",)}),
                      modules=[fake_source()])
    assert not (tmp_path / "data" / "manifest.csv").exists()


def test_train_only_pictures_are_no_pool_picture():
    """A train-only picture also in a class pool could be drawn for a val or test clip."""
    pool_entries = {entry for sound_class in CLASSES.values() for entry in sound_class.images}
    listed = [entry for entries in TRAIN_ONLY_IMAGES.values() for entry in entries]
    assert set(TRAIN_ONLY_IMAGES) <= set(CLASSES) and len(listed) == len(set(listed))
    assert not pool_entries & set(listed)
    assert all("*" not in entry and entry.split(":", 1)[0] in ("tuxpaint", "openclipart", "sweethome3d")
               for entry in listed)
