"""Training the click decoder: a few steps on tiny composites, fine-tuning a decoder saved without the
previous-mask input into one with it, training on several composite sets, the focal pixel weighting."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from sounding.segmentation.clicknet import ClickDecoder, ClickNetConfig, save_decoder
from sounding.segmentation.train import TrainConfig, pixel_loss, train
from tests.test_segmentation_eval import write_square_cutouts


def test_fine_tune_adds_the_previous_mask_input(tmp_path):
    write_square_cutouts(tmp_path, "train")
    old = ClickNetConfig(work_size=128)
    save_decoder(ClickDecoder(old), old, tmp_path / "init")
    net = ClickNetConfig(work_size=128, previous_mask=True)
    config = TrainConfig(composites=4, steps=3, batch_size=2, max_corrections=2, size=(96, 128))
    summary = train(config, net, tmp_path / "out", data_dir=tmp_path, init=tmp_path / "init")
    assert np.isfinite(summary["final_loss"])
    assert json.loads((tmp_path / "out" / "config.json").read_text())["previous_mask"] is True
    weight = load_file(tmp_path / "out" / "decoder.safetensors")["fuse16.0.0.weight"]
    assert weight.shape[1] == 2 * net.width + net.guide_channels


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
