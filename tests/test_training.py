"""Training on a toy set: images with a red and a blue square, caption "red"/"blue" -> a low/high tone.

One module-scoped run (VAE stage, then diffusion stage) feeds every test: the loss goes down, the attention of a
caption peaks on its square, and the mask of one square makes the generated audio closer to that square's sound.
"""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from sounding.audio.mel import LogMel
from sounding.engine import GenerationRequest
from sounding.model.config import MelConfig
from sounding.model.loading import MINILM_PACKAGE, load_generator
from sounding.model.masking import mask_to_grid
from sounding.training.config import TrainConfig, load_train_config
from sounding.training.loop import train

IMAGE = 32
PATCH = 8  # the tiny CLIP's patch: a 4 x 4 grid
GRID = IMAGE // PATCH
CELL = 16  # a square fills one quadrant: 2 x 2 patches
CELLS = IMAGE // CELL
CLIP_SECONDS = 0.32
RATE = 16000
SHAPES = {"red": ((220, 30, 30), 400.0), "blue": ((30, 30, 220), 3000.0)}  # colour, tone frequency
CAPTIONS = {"red": "a red square", "blue": "a blue square"}
PAIRS, SINGLES = 24, 16  # images with both squares / with one
#: The toy model: tiny, but with the pretrained MiniLM text encoder (a random tiny text encoder maps both captions to
#: nearly the same vector, cos 0.9998, leaving nothing to localise with) and the weight-free vocoder.
#: With two static tones, epsilon prediction barely needs the condition (the tone is visible in z_t at every noise
#: level where it matters: ~0.001 loss per element to gain), so the toy predicts velocity, which needs it at high noise.
TOY_MODEL = {"vocoder": "griffin-lim", "default_duration": CLIP_SECONDS, "prediction_type": "v_prediction",
             "text_encoder": {"kind": "minilm", "max_length": 32}, "sources": {"text_encoder": MINILM_PACKAGE}}


def toy_image(rng: np.random.Generator, shapes=tuple(SHAPES)) -> tuple[np.ndarray, dict[str, int]]:
    """Random-noise background (so that attending to "not the other square" is no shortcut) with the squares on
    distinct random cells; returns the cells too."""
    image = rng.integers(60, 196, (IMAGE, IMAGE, 3), dtype=np.uint8)
    cells = dict(zip(shapes, rng.choice(CELLS * CELLS, size=len(shapes), replace=False)))
    for name, cell in cells.items():
        image[cell_mask(int(cell))] = SHAPES[name][0]
    return image, cells


def cell_mask(cell: int) -> np.ndarray:
    mask = np.zeros((IMAGE, IMAGE), bool)
    row, col = divmod(cell, CELLS)
    mask[row * CELL:(row + 1) * CELL, col * CELL:(col + 1) * CELL] = True
    return mask


def cell_patches(cell: int) -> set[int]:
    return set(np.flatnonzero(mask_to_grid(cell_mask(cell), GRID)).tolist())


def tone(frequency: float) -> np.ndarray:
    t = np.arange(int(CLIP_SECONDS * RATE)) / RATE
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def band_energies(audio: np.ndarray) -> np.ndarray:
    """The fixed feature distance: time-averaged log-mel band energies."""
    return LogMel(MelConfig())(torch.from_numpy(audio)[None])[0].mean(0).numpy()


def write_toy_set(root: Path) -> Path:
    for name, (_, frequency) in SHAPES.items():
        soundfile.write(root / f"{name}.wav", tone(frequency), RATE)
    rng = np.random.default_rng(0)
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "audio", "caption"])
        for i in range(PAIRS + SINGLES):  # singles teach the UNet to use the condition, pairs need the caption
            shapes = tuple(SHAPES) if i < PAIRS else (list(SHAPES)[i % 2],)
            image, _ = toy_image(rng, shapes)
            Image.fromarray(image).save(root / f"{i}.png")
            for name in shapes:
                writer.writerow([f"{i}.png", f"{name}.wav", CAPTIONS[name]])
    return root / "manifest.csv"


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    common = dict(model="tiny", model_overrides=TOY_MODEL, manifest=str(write_toy_set(root)),
                  clip_seconds=CLIP_SECONDS, batch_size=16, lr=3e-3, save_every=10_000)
    vae = train(TrainConfig(**common, stage="vae", output=str(root / "vae"), max_steps=60), show_progress=False)
    common.update(model=str(vae.model_dir), model_overrides={})
    diffusion = train(TrainConfig(**common, output=str(root / "diffusion"), max_steps=150), show_progress=False)
    return vae, diffusion, load_generator(str(diffusion.model_dir))


def test_losses_decrease(toy_run):
    for result in toy_run[:2]:
        first, last = np.mean(result.losses[:10]), np.mean(result.losses[-10:])
        assert last < 0.7 * first, (first, last)


def test_attention_peaks_on_the_captioned_square(toy_run):
    generator = toy_run[2]
    rng = np.random.default_rng(123)  # images never seen in training
    hits = 0
    for _ in range(8):
        image, cells = toy_image(rng)
        for name in SHAPES:
            weights = generator.condition([image], [CAPTIONS[name]], [None]).weights[0, 0]
            hits += int(weights.argmax()) in cell_patches(int(cells[name]))
    assert hits >= 14, hits


def test_mask_selects_the_sound(toy_run):
    generator = toy_run[2]
    image, cells = toy_image(np.random.default_rng(7))
    targets = {name: band_energies(tone(freq)) for name, (_, freq) in SHAPES.items()}
    for name in SHAPES:
        request = GenerationRequest(image=image, region=cell_mask(int(cells[name])), text=None,
                                    duration=CLIP_SECONDS, seed=0, steps=10, guidance=2.0)
        audio = generator.generate([request], lambda *a: None)[0].clips[0]
        distance = {other: np.abs(band_energies(audio) - target).mean() for other, target in targets.items()}
        assert min(distance, key=distance.get) == name, (name, distance)


def test_mask_grid_of_toy_cells():
    grid = mask_to_grid(cell_mask(3), GRID)
    assert cell_patches(3) == {10, 11, 14, 15} and grid.sum() == 4.0


def test_named_train_config_and_overrides(tmp_path):
    config = load_train_config("tiny", manifest=str(tmp_path / "m.csv"), max_steps=3)
    assert config.max_steps == 3 and config.condition_dropout == 0.1 and config.betas == (0.95, 0.999)
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"manifest": "m.csv", "train": ["conditioner"]}))
    assert load_train_config(str(path)).train == ("conditioner",)
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"manifest": "m.csv", "learning_rate": 1.0})


def test_cached_latents_are_keyed_by_the_vae_weights():
    """A retrained VAE must not reuse latents cached with the old one."""
    from sounding.model.config import named_config
    from sounding.model.loading import build_generator
    from sounding.training.data import weights_digest

    vae = build_generator(named_config("tiny")).vae
    before = weights_digest(vae)
    assert weights_digest(vae) == before
    with torch.no_grad():
        next(vae.parameters()).add_(1e-3)
    assert weights_digest(vae) != before


def test_weights_digest_covers_scalar_buffers():
    """Frozen encoders with batch norm hold 0-dim buffers (num_batches_tracked); the digest must read them too."""
    from sounding.training.data import weights_digest

    norm = torch.nn.BatchNorm1d(4)
    before = weights_digest(norm)
    norm.num_batches_tracked += 1
    assert weights_digest(norm) != before


def test_train_command_sets_torch_threads_before_training(tmp_path):
    """`sounding train --threads N`: one thread keeps a shared 2-core machine from oversubscribing."""
    from sounding.cli import main

    manifest = write_toy_set(tmp_path)
    before = torch.get_num_threads()
    try:
        assert main(["train", "--config", "tiny", "--manifest", str(manifest), "--output", str(tmp_path / "run"),
                     "--max-steps", "2", "--batch-size", "2", "--threads", "2"]) == 0
        assert torch.get_num_threads() == 2
        assert json.loads((tmp_path / "run" / "trainer_state.json").read_text())["step"] == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="--threads"):
        main(["train", "--config", "tiny", "--manifest", str(manifest), "--threads", "0", "--print-config"])


def test_decoder_only_vae_training_keeps_the_encoder_and_the_latent_scale(tmp_path):
    """Component "vae_decoder": the latent space a trained UNet works in (encoder, quant_conv, scaling) is kept."""
    from sounding.model.config import named_config
    from sounding.model.loading import build_generator, save_generator

    start = build_generator(named_config("tiny"))
    start.vae.register_to_config(scaling_factor=0.5)
    save_generator(start, tmp_path / "start")
    result = train(TrainConfig(model=str(tmp_path / "start"), stage="vae", train=("vae_decoder",),
                               manifest=str(write_toy_set(tmp_path)), output=str(tmp_path / "run"),
                               clip_seconds=CLIP_SECONDS, batch_size=4, lr=1e-2, max_steps=3, save_every=10),
                   show_progress=False)
    before, after = start.vae.state_dict(), load_generator(str(result.model_dir)).vae.state_dict()
    frozen = [name for name in before if name.startswith(("encoder.", "quant_conv."))]
    trained = [name for name in before if name.startswith(("decoder.", "post_quant_conv."))]
    assert frozen and trained and len(frozen) + len(trained) == len(before)
    assert all(torch.equal(before[name], after[name]) for name in frozen)
    assert all(not torch.equal(before[name], after[name]) for name in trained if name.endswith(".weight"))
    assert load_generator(str(result.model_dir)).vae.config.scaling_factor == 0.5


def test_vae_stage_components_are_validated(tmp_path):
    common = dict(manifest="m.csv", stage="vae")
    assert TrainConfig.from_dict(common).trained_components() == ("vae",)
    assert TrainConfig.from_dict({**common, "train": ["vae_decoder"]}).trained_components() == ("vae_decoder",)
    with pytest.raises(ValueError, match="not both"):
        TrainConfig.from_dict({**common, "train": ["vae", "vae_decoder"]})
    with pytest.raises(ValueError, match="diffusion stage keeps the VAE frozen"):
        TrainConfig.from_dict({"manifest": "m.csv", "train": ["unet", "vae_decoder"]})
    decoder = load_train_config("foley-mini-vae-decoder")
    assert decoder.trained_components() == ("vae_decoder",) and decoder.clip_seconds == 4.0


def test_train_command_model_override(tmp_path, capsys):
    from sounding.cli import main

    assert main(["train", "--config", "foley-mini-vae-decoder", "--model", str(tmp_path / "other"),
                 "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["model"] == str(tmp_path / "other") and printed["train"] == ["vae_decoder"]
