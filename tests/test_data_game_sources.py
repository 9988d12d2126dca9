"""The generation-2 game sources: their tables map only onto Foley-Mini classes, from no reserved source; they list
nothing (and do not fail) where their package is not installed; identical files are listed once."""
import numpy as np
import pytest
import soundfile

from sounding.data.classes import CLASSES
from sounding.data.reserved import is_reserved
from sounding.data.sources import SOURCE_MODULES, load_source
from sounding.data.sources.file_table import FileGroup, table_clips

NEW_SOURCES = ("widelands", "megaglest", "hedgewars", "wesnoth")


@pytest.mark.parametrize("name", NEW_SOURCES)
def test_new_source_tables_name_foley_mini_classes_and_no_reserved_source(name):
    module = load_source(name)
    assert module.GENERATION == 2 and module.PACKAGES and module.LICENCE
    assert not is_reserved(name, *module.PACKAGES)
    groups = module.GROUPS
    assert len({group.recording for group in groups}) == len(groups)
    for group in groups:
        assert group.label in CLASSES, group
        assert group.caption.endswith(".") and group.globs
        assert not is_reserved(group.recording, *group.globs)


@pytest.mark.parametrize("name", NEW_SOURCES)
def test_new_sources_list_without_their_package(name, tmp_path):
    module = load_source(name)
    assert module.clips(tmp_path / "not-installed") == []


@pytest.mark.parametrize("name", NEW_SOURCES)
def test_installed_new_sources_list_every_group_once(name):
    module = load_source(name)
    clips = module.clips()
    if not clips:
        pytest.skip(f"{module.PACKAGES[0]} is not installed")
    assert len({clip.id for clip in clips}) == len(clips)
    assert {clip.recording.split(":", 1)[1] for clip in clips} == {group.recording for group in module.GROUPS}
    assert all(clip.generation == 2 and clip.source == name for clip in clips)


def _wav(path, seconds=0.5, frequency=440.0):
    t = np.arange(int(seconds * 16_000)) / 16_000
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), 16_000)


def test_table_clips_groups_files_and_drops_byte_identical_copies(tmp_path):
    for folder in ("a", "b"):
        _wav(tmp_path / folder / "moo_1.wav")  # the same bytes twice
    _wav(tmp_path / "a" / "moo_2.wav", frequency=300.0)
    _wav(tmp_path / "c" / "moo_2.wav", frequency=200.0)  # same stem, other folder, same group
    _wav(tmp_path / "explore_farm_animals" / "cow.wav", frequency=250.0)
    groups = (FileGroup("moo", "cow", "A cow mooing.", ("*/moo_*.wav",)),
              FileGroup("reserved", "cow", "A cow.", ("explore_farm_animals/*.wav",)))
    clips = table_clips("fake", "fake-data", tmp_path, groups, "CC0-1.0", generation=2)
    assert [clip.name for clip in clips] == ["moo_1", "moo_2", "moo_2 2"]
    assert len({clip.id for clip in clips}) == 3
    assert {clip.recording for clip in clips} == {"fake-data:moo"}
    samples, rate = clips[0].load_audio()
    assert rate == 16_000 and len(samples) == 8_000


def test_new_sources_are_registered():
    assert set(NEW_SOURCES) <= set(SOURCE_MODULES)
