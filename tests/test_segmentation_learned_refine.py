"""The learned full-resolution refiner: an untrained one changes nothing, its files round-trip, the shipped one
loads as the built-in ``clicknet-learned`` (its accuracy is measured by ``sounding eval segment``, docs), training
learns a correction on synthetic maps, and the training command runs end to end on stored cut-outs."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sounding.segmentation import load_segmenter
from sounding.segmentation.clicknet import (Backbone, ClickDecoder, ClickNetConfig, ClickNetSegmenter, click_maps,
                                            save_decoder)
from sounding.segmentation.clicks import iou
from sounding.segmentation.learned_refine import (LearnedRefiner, LearnedRefinerConfig, has_learned_refiner,
                                                  native_dtype)
from sounding.segmentation.train_refiner import (RefinerSamples, RefinerTrainConfig, crop_centres, main,
                                                 refiner_loss, train_refiner)
from test_segmentation_eval import write_square_cutouts
from test_segmentation_refine import star_scene


def random_segmenter(learned_refiner=None):
    torch.manual_seed(0)
    config = ClickNetConfig(work_size=128)
    return ClickNetSegmenter(ClickDecoder(config), config, backbone=Backbone.pretrained(),
                             learned_refiner=learned_refiner)


@pytest.mark.parametrize("bfloat16", [False, True])
def test_untrained_refiner_changes_no_mask(monkeypatch, bfloat16):
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, name, lambda: bfloat16, raising=False)
    # at the backbone's input size, so the final upsampling (of clipped logits) is the identity
    image = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    points, labels = np.array([[60.0, 45.0], [10.0, 80.0]]), np.array([1, 0])
    plain = random_segmenter().segment(image, points, labels).mask
    segmenter = random_segmenter(LearnedRefiner())
    assert segmenter.refiner_dtype == (torch.bfloat16 if bfloat16 else torch.float32)
    assert np.array_equal(plain, segmenter.segment(image, points, labels).mask)


def test_refiner_runs_in_bfloat16_only_where_that_is_native(monkeypatch):
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, name, lambda: False, raising=False)
    assert native_dtype("cpu") == torch.float32
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert native_dtype("cpu") == torch.bfloat16
    segmenter = random_segmenter(LearnedRefiner())
    assert segmenter.learned_refiner.head.weight.dtype == torch.bfloat16
    mask = segmenter.segment(np.zeros((96, 128, 3), np.uint8), np.array([[60.0, 45.0]]), np.array([1])).mask
    assert mask.shape == (96, 128) and mask[45, 60]


def test_refiner_needs_the_colour_refinement():
    config = ClickNetConfig(work_size=128)
    with pytest.raises(ValueError, match="needs refine"):
        ClickNetSegmenter(ClickDecoder(config), config, backbone=Backbone.pretrained(), refine=None,
                          learned_refiner=LearnedRefiner())


def test_refiner_files_round_trip(tmp_path):
    torch.manual_seed(3)
    refiner = LearnedRefiner(LearnedRefinerConfig(width=4, dilations=(1, 3)))
    torch.nn.init.normal_(refiner.head.weight)
    refiner.save_pretrained(tmp_path)
    assert has_learned_refiner(tmp_path) and not has_learned_refiner(tmp_path / "elsewhere")
    loaded = LearnedRefiner.from_pretrained(tmp_path)
    assert loaded.config == refiner.config
    inputs = (torch.randn(1, 3, 16, 20), torch.randn(1, 1, 16, 20), torch.randn(1, 1, 16, 20), torch.rand(1, 2, 16, 20))
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs), refiner(*inputs))


@pytest.mark.parametrize("make, message", [
    (lambda: LearnedRefinerConfig(dilations=()), "dilations"),
    (lambda: LearnedRefinerConfig(click_sigma=0.0), "click_sigma"),
    (lambda: RefinerTrainConfig(sets=()), "one set"),
    (lambda: RefinerTrainConfig(error_share=1.5), "error_share"),
])
def test_bad_configs_are_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_refiner_click_maps_peak_at_their_clicks():
    planes = click_maps(np.array([[10.0, 5.0], [30.0, 20.0]]), np.array([1, 0]), (24, 40), 1.0, (0.05,))
    assert planes.shape == (2, 24, 40)
    assert np.unravel_index(int(planes[0].argmax()), (24, 40)) == (4, 9)  # the pixel whose centre is nearest
    assert np.unravel_index(int(planes[1].argmax()), (24, 40)) == (19, 29)
    assert float(planes[0, 19, 29]) < 1e-3  # a positive click leaves the negative plane alone and vice versa


def test_shipped_refiner_loads_as_a_builtin_and_keeps_a_sharp_star():
    image, star = star_scene()
    point, label = np.array([[80.0, 60.0]]), np.array([1])
    segmenter = load_segmenter("clicknet-learned")
    assert float(segmenter.learned_refiner.head.weight.detach().abs().max()) > 0  # trained, not the identity
    plain = load_segmenter("clicknet")
    assert plain.learned_refiner is None  # the built-in name chooses, not the files in the directory
    colour = plain.segment(image, point, label).mask
    learned = segmenter.segment(image, point, label).mask
    assert iou(learned, star) > 0.9 and not np.array_equal(learned, colour)


def synthetic_samples(count=6, h=48, w=64):
    """Squares whose 'network' and 'refined' logits are the truth shifted by 3 pixels and blurred: a correction the
    refiner can learn from the pixels (the square is bright) and the click."""
    rng = np.random.default_rng(0)
    rows = {k: [] for k in ("pixels", "network", "refined", "clicks", "masks")}
    for _ in range(count):
        y, x, size = int(rng.integers(8, 20)), int(rng.integers(8, 30)), int(rng.integers(14, 22))
        truth = torch.zeros(h, w, dtype=torch.bool)
        truth[y:y + size, x:x + size] = True
        pixels = torch.randn(3, h, w) * 0.1 + truth.float() * 2
        shifted = torch.roll(truth, 3, 1).float()[None, None]
        logits = (F.avg_pool2d(shifted, 5, 1, 2)[0] - 0.5) * 8
        rows["pixels"].append(pixels)
        rows["network"].append(logits)
        rows["refined"].append(logits)
        rows["clicks"].append(click_maps(np.array([[x + size / 2, y + size / 2]]), np.array([1]), (h, w), 1.0, (0.02,)))
        rows["masks"].append(truth[None])
    return RefinerSamples(**{k: torch.stack(v) for k, v in rows.items()})


def test_training_learns_a_correction():
    samples = synthetic_samples()
    config = RefinerTrainConfig(steps=150, batch_size=4, crop=32, lr=1e-2)
    refiner, losses = train_refiner(samples, config, LearnedRefinerConfig(width=8, dilations=(1, 2, 1)))
    with torch.no_grad():
        out = refiner(samples.pixels, samples.network, samples.refined, samples.clicks)
    before = np.mean([iou((r[0] > 0).numpy(), m[0].numpy()) for r, m in zip(samples.refined, samples.masks)])
    after = np.mean([iou((o[0] > 0).numpy(), m[0].numpy()) for o, m in zip(out, samples.masks)])
    assert after > before + 0.05
    assert np.mean(losses[-20:]) < np.mean(losses[:20])


def test_crop_centres_fall_on_errors_or_edges():
    truth = torch.zeros(20, 20, dtype=torch.bool)
    truth[5:15, 5:15] = True
    predicted = truth.clone()
    predicted[5:15, 13:15] = False  # a missed strip
    rng = np.random.default_rng(0)
    for _ in range(20):
        y, x = crop_centres(predicted, truth, rng, error_share=1.0)
        assert predicted[y, x] != truth[y, x]
    y, x = crop_centres(truth, truth, rng, error_share=1.0)  # nothing wrong: an edge pixel
    assert truth[y, x] != truth[y - 1, x] or truth[y, x] != truth[y, x - 1]


def test_refiner_loss_is_lower_for_the_truth():
    target = torch.zeros(2, 1, 8, 8)
    target[:, :, 2:6, 2:6] = 1
    assert refiner_loss((target - 0.5) * 20, target) < refiner_loss(torch.zeros_like(target), target)


def test_train_refiner_command_writes_the_refiner_beside_the_decoder(tmp_path, capsys):
    write_square_cutouts(tmp_path, "train")
    config = ClickNetConfig()  # work size 320: the composites' longest side
    save_decoder(ClickDecoder(config), config, tmp_path / "seg")
    assert main(["--segmenter", str(tmp_path / "seg"), "--data-dir", str(tmp_path), "--composites", "2",
                 "--sets", "1", "--steps", "2", "--width", "4", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[out.index("{"):])
    assert summary["samples"] == 2 and np.isfinite(summary["final_loss"])
    assert has_learned_refiner(tmp_path / "seg")
    segmenter = load_segmenter(str(tmp_path / "seg"))  # a directory loads with the refiner saved in it
    assert segmenter.learned_refiner.config.width == 4
