"""Training the click decoder: a few steps on tiny composites, fine-tuning a decoder saved without the
previous-mask input into one with it."""
import json

import numpy as np
from safetensors.torch import load_file

from sounding.segmentation.clicknet import ClickDecoder, ClickNetConfig, save_decoder
from sounding.segmentation.train import TrainConfig, train


def test_fine_tune_adds_the_previous_mask_input(tmp_path):
    square = np.zeros((40, 40, 4), np.uint8)
    square[..., 2] = 220
    square[5:35, 5:35, 3] = 255
    np.savez(tmp_path / "cutouts-train.npz", pixels=np.concatenate([square.ravel()] * 2),
             shapes=np.array([[40, 40]] * 2), paths=np.array(["a", "b"]))
    old = ClickNetConfig(work_size=128)
    save_decoder(ClickDecoder(old), old, tmp_path / "init")
    net = ClickNetConfig(work_size=128, previous_mask=True)
    config = TrainConfig(composites=4, steps=3, batch_size=2, max_corrections=2, size=(96, 128))
    summary = train(config, net, tmp_path / "out", data_dir=tmp_path, init=tmp_path / "init")
    assert np.isfinite(summary["final_loss"])
    assert json.loads((tmp_path / "out" / "config.json").read_text())["previous_mask"] is True
    weight = load_file(tmp_path / "out" / "decoder.safetensors")["fuse16.0.0.weight"]
    assert weight.shape[1] == 2 * net.width + net.guide_channels
