"""The judge and ACC on a synthetic Foley-Mini of tones (real code paths, tiny sizes)."""
import csv
import dataclasses
import json
import shutil

import numpy as np
import pytest

from sounding.data import audio_prep
from sounding.data.build import MANIFEST_NAME
from sounding.data.manifest import read_manifest, write_manifest
from sounding.evaluation import judge as judge_module
from sounding.evaluation.acc import acc_of, evaluate_acc, read_targets
from sounding.evaluation.judge import (Judge, JudgeConfig, JudgeTrainConfig, evaluate_scenes, holds_all, train_judge,
                                       windows)
from sounding.evaluation.paired import compare, mcnemar_p
from tone_data import RATE, tone, tone_dataset, tone_judge  # noqa: F401  (fixtures)


def test_training_writes_weights_config_and_held_out_metrics(tone_judge):
    out, metrics = tone_judge
    assert {path.name for path in out.iterdir()} == {"config.json", "judge.safetensors", "metrics.json"}
    assert metrics["labels"] == ["bird", "car", "dog"]
    assert metrics["test"]["clips"] == 6 and metrics["selected_on"] == "val"
    assert metrics["test"]["accuracy"] >= 0.8  # three easy classes


def test_real_scenes_are_measured(tone_judge, tone_dataset):
    out, metrics = tone_judge
    assert metrics["scenes"]["test"]["scenes"] == 2 and metrics["scenes"]["val"]["scenes"] == 0
    rows = [row for row in read_manifest(tone_dataset / MANIFEST_NAME) if row.split == "test"]
    scores = evaluate_scenes(Judge.load(out), tone_dataset, rows, k=2)
    assert scores["own_clip_clicked_class"] >= 0.75 and scores["own_clip_other_class"] <= 0.25
    assert scores["scenes"] == 2 and scores["mix_both_in_top2"] >= 0.5


def test_holds_all_reads_the_top_k():
    probabilities = np.array([0.1, 0.5, 0.3, 0.1])
    assert holds_all(probabilities, [1, 2], k=2) and not holds_all(probabilities, [1, 3], k=2)
    assert not holds_all(np.zeros(4), [0], k=4)  # silence holds nothing


def test_loaded_judge_gives_probabilities(tone_judge):
    judge = Judge.load(tone_judge[0])
    probabilities = judge.classify(tone("car", 99), RATE)
    assert probabilities.shape == (3,) and abs(probabilities.sum() - 1) < 1e-5
    # any sample rate: the judge prepares audio like the tone_dataset does
    at_44k = judge.classify(np.repeat(tone("car", 99), 2)[: 2 * RATE], 2 * RATE)
    assert int(np.argmax(at_44k)) == judge.labels.index("car")
    assert not judge.classify(np.zeros(RATE, dtype=np.float32), RATE).any()  # silence matches no class


def test_the_judge_averages_its_members(tone_judge):
    out, metrics = tone_judge
    judge = Judge.load(out)
    assert len(judge.nets) == 2 and [member["seed"] for member in metrics["members"]] == [0, 1]
    assert all(1 <= member["epoch"] <= 6 and len(member["history"]) == 6 for member in metrics["members"])
    first, second = (net.state_dict()["head.1.weight"] for net in judge.nets)
    assert not np.allclose(first.numpy(), second.numpy())  # two seeds, two nets
    audio = tone("bird", 42)
    alone = [Judge([net]).classify(audio, RATE) for net in judge.nets]
    np.testing.assert_allclose(judge.classify(audio, RATE), np.mean(alone, axis=0), atol=1e-6)


def test_a_judge_from_before_ensembles_or_without_members_is_refused(tone_judge, tmp_path):
    config = json.loads((tone_judge[0] / "config.json").read_text())
    del config["members"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="retrain it with `sounding eval judge"):
        Judge.load(tmp_path)
    with pytest.raises(ValueError, match="at least one member"):
        JudgeConfig(labels=["bird", "car"], members=0)


def test_module_classify_returns_a_dict(tone_judge):
    scores = judge_module.classify(tone("dog", 5), RATE, judge_dir=tone_judge[0])
    assert set(scores) == {"bird", "car", "dog"} and abs(sum(scores.values()) - 1) < 1e-5


def test_windows_cover_short_and_long_clips():
    import torch

    assert windows(torch.zeros(30, 4), 100, -11.5).shape == (1, 100, 4)
    long = windows(torch.arange(250.0)[:, None].repeat(1, 4), 100, -11.5)
    assert long.shape == (4, 100, 4) and long[-1, -1, 0] == 249


def _write_clips(folder, specs):
    for index, (label, sound_of) in enumerate(specs):
        audio_prep.write_wav(folder / label / f"{index}.wav", sound_of)


def test_acc_from_a_folder_and_a_csv(tone_judge, tmp_path):
    judge = Judge.load(tone_judge[0])
    folder = tmp_path / "generated"
    _write_clips(folder, [("car", tone("car", 50)), ("dog", tone("dog", 51)),
                          ("bird", tone("bird", 52)), ("car", tone("dog", 53))])  # last one is wrong
    result = acc_of(read_targets(folder), judge)
    assert result.clips == 4 and result.acc == 0.75 and result.class_acc["car"] == 0.5
    assert result.acc_top3 == 1.0  # three classes: every target is in the top three
    with open(tmp_path / "clips.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["audio_path", "label"])
        writer.writerows([["generated/car/0.wav", "car"], ["generated/dog/1.wav", "car"]])
    assert evaluate_acc(tmp_path / "clips.csv", tone_judge[0]).acc == 0.5


def test_acc_counts_silence_as_wrong_and_rejects_unknown_labels(tone_judge, tmp_path):
    judge = Judge.load(tone_judge[0])
    _write_clips(tmp_path, [("bird", np.zeros(RATE, dtype=np.float32))])
    result = acc_of(read_targets(tmp_path), judge)
    assert result.acc == 0.0 and result.acc_top3 == 0.0 and result.silent_clips == 1
    with pytest.raises(ValueError, match="unicorn"):
        acc_of([(tmp_path / "bird" / "0.wav", "unicorn")], judge)


def test_paired_counts_the_rows_one_set_gets_right_and_the_other_wrong(tone_judge, tmp_path):
    _write_clips(tmp_path / "a", [("car", tone("car", 60)), ("dog", tone("dog", 61)), ("bird", tone("bird", 62))])
    _write_clips(tmp_path / "b", [("car", tone("dog", 63)), ("dog", tone("dog", 64)), ("bird", tone("car", 65))])
    result = compare(tmp_path / "a", tmp_path / "b", tone_judge[0])
    assert (result.clips, result.rows, result.first_acc, result.only_first, result.only_second) == (3, 3, 1.0, 2, 0)
    assert result.p_value == 0.5 and abs(result.second_acc - 1 / 3) < 1e-3
    _write_clips(tmp_path / "c", [("car", tone("car", 66))])
    with pytest.raises(ValueError, match="same clips"):
        compare(tmp_path / "a", tmp_path / "c", tone_judge[0])


def _seeded_clips(root, rows):
    """``rows``: (row name, target, [sound of seed 0, sound of seed 1, ...]) -> a CSV as `eval generated --seeds`
    writes it (one folder per seed, a row's clips sharing a file name)."""
    lines = []
    for name, label, sounds in rows:
        for seed, sound in enumerate(sounds):
            audio_prep.write_wav(root / f"seed{seed}" / f"{name}.wav", sound)
            lines.append([f"seed{seed}/{name}.wav", label])
    with open(root / "clips.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["audio_path", "label"])
        writer.writerows(sorted(lines))
    return root / "clips.csv"


def test_paired_with_several_seeds_counts_rows_not_clips(tone_judge, tmp_path):
    first = _seeded_clips(tmp_path / "a", [("r1", "car", [tone("car", 70), tone("car", 71)]),
                                           ("r2", "dog", [tone("dog", 72), tone("car", 73)])])
    second = _seeded_clips(tmp_path / "b", [("r1", "car", [tone("car", 74), tone("dog", 75)]),
                                            ("r2", "dog", [tone("bird", 76), tone("dog", 77)])])
    result = compare(first, second, tone_judge[0])
    assert (result.clips, result.rows, result.only_first, result.only_second) == (4, 2, 1, 0)
    assert result.first_acc == 0.75 and result.second_acc == 0.5 and result.p_value == 1.0


def test_mcnemar_p_is_the_exact_two_sided_binomial():
    assert mcnemar_p(0, 0) == 1.0 and mcnemar_p(5, 5) == 1.0
    assert mcnemar_p(0, 6) == mcnemar_p(6, 0) == 2 / 64
    assert abs(mcnemar_p(21, 10) - 0.0708) < 1e-4


def test_a_picture_variant_is_no_new_judge_example(tone_dataset, tmp_path):
    """A train row that repeats another's audio with another picture (a picture variant of the build) leaves the
    judge's examples as they were: same count, and bit-identical weights for the same seed."""
    rows = read_manifest(tone_dataset / MANIFEST_NAME)
    clip = next(row for row in rows if row.split == "train" and not row.scene_id)
    variant = dataclasses.replace(clip, id=clip.id + "-pextra", image_source="fake:extra.png")
    with_variant = tmp_path / "with-variant"
    shutil.copytree(tone_dataset, with_variant)
    write_manifest(with_variant / MANIFEST_NAME, rows + [variant])
    config = JudgeTrainConfig(epochs=1, samples_per_epoch=32, batch_size=16, model={"channels": (8,), "members": 1})
    plain = train_judge(tone_dataset, tmp_path / "plain", config)
    varied = train_judge(with_variant, tmp_path / "varied", config)
    assert varied["train"]["clips"] == plain["train"]["clips"] == len(
        [row for row in rows if row.split == "train" and not row.scene_id])
    assert (tmp_path / "plain" / "judge.safetensors").read_bytes() == (
        tmp_path / "varied" / "judge.safetensors").read_bytes()
