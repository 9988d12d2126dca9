"""`sounding eval generated` end to end: a Foley-Mini built from a synthetic source, a tiny judge trained on it, the
tiny model generating the test split's clips in all three modes, on exact masks and on segmented clicks, and each class
of a fitted object prior asked for by name."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from test_data_build import fake_source

from sounding.cli import main
from sounding.data.build import BuildConfig, build_dataset
from sounding.data.compose import ComposeConfig
from sounding.engine import ObjectMask
from sounding.evaluation.generated import ClickedRegions
from sounding.evaluation.judge import JudgeTrainConfig, train_judge
from sounding.evaluation.paired import compare
from sounding.training.data import load_image, load_masks

LIMIT = 2
#: Enough scenes that the test split holds two-object ones.
SCENES_PER_CLIP = 3.0


@pytest.fixture(scope="module")
def dataset_and_judge(tmp_path_factory):
    data = tmp_path_factory.mktemp("foley-mini")
    build_dataset(BuildConfig(out=data, install=False, scenes_per_clip=SCENES_PER_CLIP,
                              compose=ComposeConfig(size=64)), modules=[fake_source(reserved=False)])
    judge = tmp_path_factory.mktemp("judge")
    train_judge(data, judge, JudgeTrainConfig(epochs=1, samples_per_epoch=32, batch_size=16,
                                              model={"channels": (8, 8), "window_seconds": 1.0, "members": 1}))
    return data, judge


def _csv_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_eval_generated_writes_clips_csvs_and_metrics(dataset_and_judge, tmp_path):
    data, judge = dataset_and_judge
    out = tmp_path / "eval"
    assert main(["eval", "generated", "--model", "tiny", "--data", str(data), "--judge", str(judge),
                 "--out", str(out), "--limit", str(LIMIT), "--threads", "1"]) == 0
    assert torch.get_num_threads() == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"mask", "text", "scenes"}
    for mode in ("mask", "text"):
        rows = _csv_rows(out / f"{mode}.csv")
        assert len(rows) == LIMIT and all((out / row["audio_path"]).is_file() for row in rows)
        assert metrics[mode]["clips"] == LIMIT and 0.0 <= metrics[mode]["acc"] <= 1.0
        assert "mean_iou" not in metrics[mode] and "prior_recognised_class" not in metrics[mode]  # tiny: no prior
    assert metrics["scenes"]["scenes"] == LIMIT
    # per scene: one clip per clicked object (labelled) and one with both clicked (unlabelled)
    assert len(list((out / "scenes").glob("*.wav"))) == 3 * LIMIT
    assert len(_csv_rows(out / "scenes.csv")) == 2 * LIMIT


def test_eval_generated_rejects_unknown_modes_and_a_bad_limit(dataset_and_judge, tmp_path):
    data, judge = dataset_and_judge
    common = ["eval", "generated", "--model", "tiny", "--data", str(data), "--judge", str(judge), "--out",
              str(tmp_path)]
    with pytest.raises(ValueError, match="unknown modes"):
        main(common + ["--modes", "mask", "sing"])
    with pytest.raises(ValueError, match="limit"):
        main(common + ["--limit", "0"])
    with pytest.raises(ValueError, match="clicks must be at least 1"):
        main(common + ["--segmenter", "superpixel", "--clicks", "0"])
    with pytest.raises(ValueError, match="give one"):
        main(common + ["--clicks", "2"])
    with pytest.raises(ValueError, match="seeds must be at least 1"):
        main(common + ["--seeds", "0"])
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        main(common + ["--split", "dev"])


def test_eval_generated_scores_the_split_it_is_given(dataset_and_judge, tmp_path):
    data, judge = dataset_and_judge
    out = tmp_path / "eval-train"
    assert main(["eval", "generated", "--model", "tiny", "--data", str(data), "--judge", str(judge), "--out",
                 str(out), "--modes", "mask", "--limit", str(LIMIT), "--split", "train", "--threads", "1"]) == 0
    manifest = _csv_rows(data / "manifest.csv")
    train_rows = [row for row in manifest if row["split"] == "train" and not row["scene_id"]][:LIMIT]
    assert len(train_rows) == LIMIT
    written = sorted(path.stem for path in (out / "mask").glob("*.wav"))
    assert written == sorted(row["id"] for row in train_rows)
    assert json.loads((out / "metrics.json").read_text())["mask"]["clips"] == LIMIT


def test_eval_generated_on_segmented_clicks(dataset_and_judge, tmp_path):
    data, judge = dataset_and_judge
    out = tmp_path / "eval"
    assert main(["eval", "generated", "--model", "tiny", "--data", str(data), "--judge", str(judge), "--out",
                 str(out), "--limit", str(LIMIT), "--modes", "mask", "scenes", "--segmenter", "superpixel",
                 "--clicks", "2", "--threads", "1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mask"]["clips"] == LIMIT and metrics["scenes"]["scenes"] == LIMIT
    for mode in ("mask", "scenes"):
        assert 0.0 < metrics[mode]["mean_iou"] <= 1.0


def test_eval_generated_with_several_seeds_keeps_a_folder_per_seed(dataset_and_judge, tmp_path):
    data, judge = dataset_and_judge
    out = tmp_path / "eval"
    assert main(["eval", "generated", "--model", "tiny", "--data", str(data), "--judge", str(judge), "--out",
                 str(out), "--limit", str(LIMIT), "--modes", "mask", "scenes", "--seeds", "2", "--threads", "1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mask"]["clips"] == 2 * LIMIT and metrics["mask"]["seeds"] == 2
    assert metrics["scenes"]["scenes"] == LIMIT and metrics["scenes"]["seeds"] == 2
    rows = _csv_rows(out / "mask.csv")
    names = {seed: sorted(Path(row["audio_path"]).name for row in rows if f"/seed{seed}/" in row["audio_path"])
             for seed in (0, 1)}
    assert len(names[0]) == LIMIT and names[0] == names[1]
    assert len(list((out / "scenes").glob("seed*/*.wav"))) == 2 * 3 * LIMIT
    seed0, seed1 = (soundfile.read(out / "mask" / f"seed{n}" / names[0][0])[0] for n in (0, 1))
    assert not np.allclose(seed0, seed1)
    paired = compare(out / "mask.csv", out / "mask.csv", judge)
    assert (paired.clips, paired.rows, paired.only_first, paired.only_second) == (2 * LIMIT, LIMIT, 0, 0)


class HalfSegmenter:
    """Keeps the left half of the clicked object (or nothing, when ``empty``)."""

    def __init__(self, truth, empty=False):
        self.truth, self.empty = truth, empty
        self.calls = 0

    def segment(self, image, points, labels):
        self.calls += 1
        mask = np.zeros_like(self.truth)
        if not self.empty:
            mask[:, :self.truth.shape[1] // 2] = self.truth[:, :self.truth.shape[1] // 2]
        return ObjectMask(mask=mask, score=1.0)


def test_clicked_regions_use_the_segmenters_mask_and_keep_its_iou():
    image = np.zeros((8, 8, 3), np.uint8)
    truth = np.zeros((8, 8), bool)
    truth[2:6, 2:6] = True
    assert ClickedRegions()(image, truth, "row") is truth
    assert ClickedRegions().summary() == {}
    segmenter = HalfSegmenter(truth)
    regions = ClickedRegions(segmenter, clicks=2)
    region = regions(image, truth, "row")
    assert region.sum() == 8 and (region <= truth).all() and segmenter.calls == 2
    assert regions.summary() == {"mean_iou": 0.5} and regions.summary() == {}
    with pytest.raises(ValueError, match="row-7: the segmenter returned an empty mask"):
        ClickedRegions(HalfSegmenter(truth, empty=True))(image, truth, "row-7")


def test_a_model_with_an_object_prior_reports_how_often_it_recognised_the_class(dataset_and_judge, tmp_path):
    from sounding.model.loading import load_generator, save_generator

    data, judge = dataset_and_judge
    model = tmp_path / "model"
    save_generator(load_generator("tiny"), model)
    assert main(["fit-prior", "--model", str(model), "--manifest", str(data / "manifest.csv"), "--threads", "1"]) == 0
    out = tmp_path / "eval"
    assert main(["eval", "generated", "--model", str(model), "--data", str(data), "--judge", str(judge),
                 "--out", str(out), "--limit", str(LIMIT), "--modes", "mask", "scenes", "--threads", "1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for mode in ("mask", "scenes"):
        assert 0.0 <= metrics[mode]["prior_recognised_class"] <= 1.0
    # the prior was fitted on the train rows: it names at least the classes of its own train pictures
    train = tmp_path / "eval-train"
    assert main(["eval", "generated", "--model", str(model), "--data", str(data), "--judge", str(judge),
                 "--out", str(train), "--split", "train", "--modes", "mask", "--threads", "1"]) == 0
    assert json.loads((train / "metrics.json").read_text())["mask"]["prior_recognised_class"] > 0.5
    # the ACC of rows the prior is unsure of, apart: here every row (no score reaches 10), none without a threshold
    for unsure_below, expected in (("10", lambda acc: {"rows": LIMIT, "acc_unsure": acc}), ("0", lambda acc: None)):
        assert main(["fit-prior", "--model", str(model), "--manifest", str(data / "manifest.csv"), "--threads", "1",
                     "--unsure-below", unsure_below]) == 0
        assert main(["eval", "generated", "--model", str(model), "--data", str(data), "--judge", str(judge),
                     "--out", str(out), "--limit", str(LIMIT), "--modes", "mask", "--threads", "1"]) == 0
        mask = json.loads((out / "metrics.json").read_text())["mask"]
        assert mask.get("unsure") == expected(mask["acc"])


def test_eval_classes_renders_each_class_by_name_and_compares_it_with_the_recordings(dataset_and_judge, tmp_path):
    from sounding.model.loading import load_generator, save_generator

    data, judge = dataset_and_judge
    model = tmp_path / "model"
    save_generator(load_generator("tiny"), model)
    out = tmp_path / "classes"
    with pytest.raises(ValueError, match="no object prior"):
        main(["eval", "classes", "--model", str(model), "--data", str(data), "--judge", str(judge),
              "--out", str(out), "--threads", "1"])
    with pytest.raises(ValueError, match="at least 2"):
        main(["eval", "classes", "--model", str(model), "--data", str(data), "--judge", str(judge),
              "--out", str(out), "--seeds", "1"])
    assert not out.exists()
    assert main(["fit-prior", "--model", str(model), "--manifest", str(data / "manifest.csv"), "--threads", "1"]) == 0
    assert main(["eval", "classes", "--model", str(model), "--data", str(data), "--judge", str(judge),
                 "--out", str(out), "--seeds", "2", "--threads", "1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    classes = json.loads((model / "object_prior" / "config.json").read_text())["labels"]
    assert sorted(metrics["classes"]) == sorted(classes) and metrics["seeds"] == 2
    for label, scores in metrics["classes"].items():
        assert sorted(p.name for p in (out / label).iterdir()) == ["seed0.wav", "seed1.wav"]
        assert 0.0 <= scores["top1"] <= scores["top3"] <= 1.0
        assert -1.0 <= scores["nearest_train"] <= 1.0
    summary = metrics["summary"]
    assert summary["top1"] == pytest.approx(np.mean([s["top1"] for s in metrics["classes"].values()]), abs=1e-4)
    assert set(summary["never_named"]) == {label for label, s in metrics["classes"].items() if s["top1"] == 0}


def test_a_recording_is_nearest_to_itself_and_silence_has_no_signature(tmp_path):
    from sounding.evaluation.classes import Signatures, _nearest

    rate = 16000
    t = np.arange(2 * rate) / rate
    chirp = 0.3 * np.sin(2 * np.pi * (200 + 800 * t) * t)
    noise = 0.3 * np.random.default_rng(0).standard_normal(2 * rate)
    signatures = Signatures()
    a, b = signatures(chirp, rate), signatures(noise, rate)
    assert float(a @ a) == pytest.approx(1.0, abs=1e-3)
    assert _nearest(a, torch.stack([b, a])) == pytest.approx(1.0, abs=1e-3) and float(a @ b) < 0.9
    assert signatures(np.zeros(rate), rate) is None and _nearest(None, torch.stack([a])) == 0.0


def _recognised(generator, prior, rows, clips, scene: bool, top3: bool = False) -> list[bool] | None:
    """Whether ``prior`` names each (scene or single) row's class, clicked on its exact mask (``top3``: among its
    three most similar classes); None without rows."""
    chosen = [(row, clip) for row, clip in zip(rows, clips) if bool(clip.scene_id) == scene]
    if not chosen:
        return None
    encoded = generator.condition([load_image(row.image) for row, _ in chosen], [None] * len(chosen),
                                  [load_masks(row.masks) for row, _ in chosen], object_prior=False)
    imagenet = generator.image_encoder.imagenet_probabilities(encoded.features) if prior.uses_imagenet else None
    named = [prior.config.labels[k] for k in prior.recognise(encoded.features, imagenet).tolist()]
    if top3:
        offered = prior.similarities(encoded.features, imagenet).topk(3, dim=-1).indices.tolist()
        return [clip.label in [prior.config.labels[k] for k in ks] for ks, (_, clip) in zip(offered, chosen)]
    return [label == clip.label for label, (_, clip) in zip(named, chosen)]


def _share(hits: list[bool] | None) -> float | None:
    return None if hits is None else round(float(np.mean(hits)), 4)


def test_eval_recognition_leaves_each_train_picture_out_of_the_class_means(dataset_and_judge, tmp_path):
    """Checked against priors fitted the ordinary way: on all train rows for the test rows, and on the train rows of
    every other picture for each train picture's rows."""
    from sounding.data.manifest import read_manifest
    from sounding.evaluation.recognition import picture_of
    from sounding.model.loading import load_generator
    from sounding.training.data import read_rows
    from sounding.training.object_prior import fit_object_prior

    data, _ = dataset_and_judge
    out = tmp_path / "recognition.json"
    assert main(["eval", "recognition", "--model", "tiny", "--data", str(data), "--weights", "0", "--out", str(out),
                 "--threads", "1", "--unsure-below", "0", "2"]) == 0
    result = json.loads(out.read_text())
    assert result["imagenet_classifier"] is False and list(result["weights"]) == ["0.0"]
    shares = result["weights"]["0.0"]
    assert "val" not in shares  # the synthetic build has no val rows
    generator = load_generator("tiny")
    manifest = [row for row in read_manifest(data / "manifest.csv") if row.label]
    train_rows, test_rows = read_rows(data / "manifest.csv", "train"), read_rows(data / "manifest.csv", "test")
    train_clips, test_clips = [[row for row in manifest if row.split == split] for split in ("train", "test")]
    full = fit_object_prior(generator, train_rows, 1.0)
    for scene, key in ((False, "single"), (True, "scene")):
        assert shares["test"][key] == _share(_recognised(generator, full, test_rows, test_clips, scene))
        assert shares["test"][f"{key}_top3"] == _share(_recognised(generator, full, test_rows, test_clips, scene,
                                                                   top3=True))
        assert shares["test"][f"{key}_top3"] >= shares["test"][key]
        hits = _recognised(generator, full, test_rows, test_clips, scene)
        assert shares["test"]["unsure"]["0.0"][key] == {"flagged": 0, "wrong": 0}
        assert shares["test"]["unsure"]["2.0"][key] == {"flagged": len(hits), "wrong": hits.count(False)}  # cosine < 2
    flags = shares["train_picture_left_out"]["unsure"]["2.0"]["single"]  # every row, so wrong / flagged = 1 - share
    assert flags["flagged"] and shares["suggested_unsure_below"] == (2.0 if flags["wrong"] >= 0.8 * flags["flagged"]
                                                                     else None)
    pictures = [picture_of(row) for row in train_clips]
    hits = {False: [], True: []}
    for picture in sorted(set(pictures)):
        others = [row for row, p in zip(train_rows, pictures) if p != picture]
        mine = [(row, clip) for row, p, clip in zip(train_rows, pictures, train_clips) if p == picture]
        prior = fit_object_prior(generator, others, 1.0)
        for scene in (False, True):
            hits[scene] += _recognised(generator, prior, *zip(*mine), scene) or []
    assert len(set(pictures)) == result["train_pictures"] > 2
    for scene, key in ((False, "single"), (True, "scene")):
        assert shares["train_picture_left_out"][key] == _share(hits[scene])
    with pytest.raises(ValueError, match="no ImageNet classifier: only weight 0"):
        main(["eval", "recognition", "--model", "tiny", "--data", str(data), "--weights", "0", "0.5"])


def test_eval_recognition_weighs_an_imagenet_classifier_as_the_prior_does(dataset_and_judge, tmp_path):
    """An EfficientNet-Lite0 head (random weights) under the tiny model: each weight's test shares are those of a prior
    fitted at that weight."""
    import dataclasses

    from sounding.data.manifest import read_manifest
    from sounding.evaluation.recognition import evaluate_recognition
    from sounding.model.config import EFFICIENTNET_LITE_MEAN, EFFICIENTNET_LITE_STD, ImageEncoderConfig, tiny_config
    from sounding.model.loading import build_generator, save_generator
    from sounding.training.data import read_rows
    from sounding.training.object_prior import fit_object_prior

    data, _ = dataset_and_judge
    torch.manual_seed(0)
    generator = build_generator(dataclasses.replace(tiny_config(), name="tiny-efficientnet", image_encoder=(
        ImageEncoderConfig(kind="efficientnet-lite0", image_size=64, mean=EFFICIENTNET_LITE_MEAN,
                           std=EFFICIENTNET_LITE_STD, arch={"feature_stage": "head"}))))
    save_generator(generator, tmp_path / "model")
    result = evaluate_recognition(str(tmp_path / "model"), data, [0.0, 2.0])
    assert result["imagenet_classifier"] is True
    manifest = [row for row in read_manifest(data / "manifest.csv") if row.label]
    test_rows, test_clips = read_rows(data / "manifest.csv", "test"), [row for row in manifest if row.split == "test"]
    train_rows = read_rows(data / "manifest.csv", "train")
    for weight in (0.0, 2.0):
        prior = fit_object_prior(generator, train_rows, 1.0, imagenet_weight=weight)
        for scene, key in ((False, "single"), (True, "scene")):
            expected = _share(_recognised(generator, prior, test_rows, test_clips, scene))
            assert result["weights"][str(weight)]["test"][key] == expected


def test_the_suggested_unsure_threshold_is_the_highest_whose_flags_are_mostly_wrong_recognitions():
    from sounding.evaluation.recognition import _suggested_threshold

    def counts(flagged, wrong):
        return {"single": {"flagged": flagged, "wrong": wrong}, "scene": {"flagged": 99, "wrong": 99}}

    assert _suggested_threshold({"0.4": counts(10, 9), "0.5": counts(20, 16), "0.6": counts(30, 20)}) == 0.5
    assert _suggested_threshold({"0.4": counts(0, 0), "0.5": counts(20, 10)}) is None  # scene rows do not count
    assert _suggested_threshold({}) is None
