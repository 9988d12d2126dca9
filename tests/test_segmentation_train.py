"""Training the click decoder: a few steps on tiny composites, fine-tuning a decoder saved without the
previous-mask and similarity inputs into one with them, training on several composite sets, close-ups and Blender
renders (primitives and furniture models), the focal pixel weighting."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from sounding.segmentation.clicknet import (TAIL_WEIGHTS, Backbone, ClickDecoder, ClickNetConfig, ClickNetSegmenter,
                                            save_decoder)
from sounding.segmentation.composites import split_of
from sounding.segmentation.renders import FURNITURE_PACK
from sounding.segmentation.train import TrainConfig, pixel_loss, train
from tests.test_segmentation_eval import write_furniture_pack, write_square_cutouts


@pytest.mark.parametrize("similarity, attention", [(False, 0), (True, 1)])
def test_fine_tune_adds_the_previous_mask_similarity_and_attention(tmp_path, similarity, attention):
    write_square_cutouts(tmp_path, "train")
    old = ClickNetConfig(work_size=128)
    save_decoder(ClickDecoder(old), old, tmp_path / "init")
    net = ClickNetConfig(work_size=128, previous_mask=True, click_similarity=similarity, attention_layers=attention)
    config = TrainConfig(composites=4, steps=3, batch_size=2, max_corrections=2, size=(96, 128))
    summary = train(config, net, tmp_path / "out", data_dir=tmp_path, init=tmp_path / "init")
    assert np.isfinite(summary["final_loss"])
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["previous_mask"] is True and saved["click_similarity"] is similarity
    assert saved["attention_layers"] == attention
    weights = load_file(tmp_path / "out" / "decoder.safetensors")
    assert weights["fuse16.0.0.weight"].shape[1] == 2 * net.width + net.guide_channels
    trained = [name for name in weights if name.startswith("fuse16.4.") and name.endswith("out_proj.weight")]
    assert len(trained) == attention and all(float(weights[name].abs().max()) > 0 for name in trained)


def test_training_on_several_composite_sets_caches_each(tmp_path):
    write_square_cutouts(tmp_path, "train")
    net = ClickNetConfig(work_size=128)
    config = TrainConfig(composites=3, steps=2, batch_size=2, seed=7, sets=(1, 2), size=(96, 128), focal_gamma=2)
    summary = train(config, net, tmp_path / "out", data_dir=tmp_path)
    assert np.isfinite(summary["final_loss"])
    assert summary["train"]["sets"] == [1, 2]
    cached = sorted(p.name for p in tmp_path.glob("train-features-*.pt"))
    assert cached == ["train-features-3-1-96x128.pt", "train-features-3-2-96x128.pt"]
    assert len(torch.load(tmp_path / cached[0], weights_only=True)["masks"]) == 3


def test_training_on_a_closeup_set_caches_it_apart_from_the_composites(tmp_path):
    write_square_cutouts(tmp_path, "train")
    config = TrainConfig(composites=3, steps=2, batch_size=2, seed=1, sets=(1,), closeup_sets=(1,), size=(96, 128))
    summary = train(config, ClickNetConfig(work_size=128), tmp_path / "out", data_dir=tmp_path)
    assert summary["train"]["closeup_sets"] == [1]
    masks = {name: torch.load(tmp_path / f"train-{name}-3-1-96x128.pt", weights_only=True)["masks"].float().mean()
             for name in ("features", "closeup-features")}
    assert masks["closeup-features"] > masks["features"]


def test_training_on_a_render_set_caches_one_feature_set_per_scene(tmp_path):
    write_square_cutouts(tmp_path, "train")
    net = ClickNetConfig(work_size=128)
    config = TrainConfig(composites=2, steps=2, batch_size=2, size=(96, 128), render_sets=(101,), renders=1)
    summary = train(config, net, tmp_path / "out", data_dir=tmp_path)
    assert np.isfinite(summary["final_loss"])
    assert summary["train"]["render_sets"] == [101]
    stored = torch.load(tmp_path / "train-render-features-1-101-96x128.pt", weights_only=True)
    masks = stored["masks"].numpy()
    assert len(masks) >= 2  # the ground and at least one object
    assert masks.sum(0).max() == 1  # exact object ids: no pixel belongs to two samples
    pointers = {features[0].data_ptr() for features in stored["features"]}
    assert len(pointers) == 1  # the objects of one scene share its backbone features


def test_training_on_a_furniture_set_uses_train_split_models(tmp_path, monkeypatch):
    import sounding.data.images
    import sounding.data.renders

    write_square_cutouts(tmp_path, "train")
    write_furniture_pack(tmp_path, [f"model{i}" for i in range(12)])
    monkeypatch.setattr(sounding.data.images, "SWEETHOME3D_DIR", tmp_path)
    monkeypatch.setattr(sounding.data.renders, "SWEETHOME3D_DIR", tmp_path)
    config = TrainConfig(composites=2, steps=2, batch_size=2, size=(96, 128), furniture_sets=(201,), renders=1)
    summary = train(config, ClickNetConfig(work_size=128), tmp_path / "out", data_dir=tmp_path)
    assert summary["train"]["furniture_sets"] == [201]
    stored = torch.load(tmp_path / "train-furniture-features-1-201-96x128.pt", weights_only=True)
    assert len(stored["masks"]) >= 2
    unpacked = {path.parent.name for path in (tmp_path / "furniture").rglob("*.obj")}
    assert unpacked and all(split_of(f"{FURNITURE_PACK}/{name}") == "train" for name in unpacked)


def test_focal_weighting_moves_the_loss_onto_wrong_pixels():
    target = torch.tensor([[[[1.0] * 4 + [0.0] * 4]]])
    logits = torch.tensor([[[[1.5] * 4 + [-1.5] * 3 + [0.5]]]], requires_grad=True)  # the last pixel is wrong
    assert torch.isclose(pixel_loss(logits, target), F.binary_cross_entropy_with_logits(logits, target))
    shares = []
    for gamma in (0.0, 2.0):
        (grad,) = torch.autograd.grad(pixel_loss(logits, target, gamma), logits)
        shares.append(float(grad.abs()[..., -1] / grad.abs().sum()))
    assert shares[0] < 0.4 and shares[1] > 0.8
    with pytest.raises(ValueError):
        pixel_loss(logits, target, -1.0)


@pytest.mark.parametrize("start", [5, 11])
def test_fine_tuned_backbone_tail_is_saved_and_loads_back(tmp_path, start):
    write_square_cutouts(tmp_path, "train")
    net = ClickNetConfig(work_size=128, tuned_from_block=start)
    config = TrainConfig(composites=3, steps=2, batch_size=2, size=(96, 128), tail_lr=1e-2)
    train(config, net, tmp_path / "out", data_dir=tmp_path)
    tail = load_file(tmp_path / "out" / TAIL_WEIGHTS)
    pretrained = Backbone.pretrained()
    assert set(tail) == set(pretrained.tail_state(start))
    assert not any(name.startswith(f"_blocks.{start - 1}.") for name in tail)
    assert any(not torch.equal(value, pretrained.tail_state(start)[name]) for name, value in tail.items())
    loaded = ClickNetSegmenter.from_pretrained(tmp_path / "out", refine=None)
    assert all(torch.equal(value, loaded.backbone.tail_state(start)[name]) for name, value in tail.items())
    image = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    mask = loaded.segment(image, np.array([[64.0, 48.0]]), np.array([1])).mask
    assert mask.shape == (96, 128) and mask[48, 64]
    # the tail continues from where it stopped when fine-tuned again
    train(TrainConfig(composites=3, steps=1, batch_size=2, size=(96, 128), tail_lr=0.0, lr=0.0), net,
          tmp_path / "again", data_dir=tmp_path, init=tmp_path / "out")
    again = load_file(tmp_path / "again" / TAIL_WEIGHTS)
    assert all(torch.allclose(again[name], value) for name, value in tail.items())


def test_tail_must_start_after_a_feature_block():
    with pytest.raises(ValueError, match="tuned_from_block"):
        ClickNetConfig(tuned_from_block=7)
    with pytest.raises(ValueError, match="tuned_from_block"):
        save_decoder(ClickDecoder(ClickNetConfig()), ClickNetConfig(tuned_from_block=11), "unused")
