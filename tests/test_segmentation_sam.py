"""SAM through transformers: a tiny random SAM saved in the Hugging Face layout, loaded back by load_segmenter."""

import numpy as np
import pytest
import torch
from transformers import SamConfig, SamMaskDecoderConfig, SamModel, SamPromptEncoderConfig, SamVisionConfig
from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

from sounding.segmentation import load_segmenter
from sounding.segmentation.sam import SamSegmenter

SIZE = 64


@pytest.fixture(scope="module")
def tiny_sam_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = SamConfig(
        vision_config=SamVisionConfig(image_size=SIZE, patch_size=8, hidden_size=32, output_channels=32,
                                      num_hidden_layers=2, num_attention_heads=2, window_size=4,
                                      global_attn_indexes=[1], num_pos_feats=16, mlp_dim=64),
        prompt_encoder_config=SamPromptEncoderConfig(image_size=SIZE, patch_size=8, hidden_size=32,
                                                     mask_input_channels=4),
        mask_decoder_config=SamMaskDecoderConfig(hidden_size=32, mlp_dim=64, num_hidden_layers=2,
                                                 num_attention_heads=4, iou_head_hidden_dim=32))
    directory = tmp_path_factory.mktemp("tiny-sam")
    SamModel(config).save_pretrained(directory)
    SamImageProcessorPil(size={"longest_edge": SIZE}, pad_size={"height": SIZE, "width": SIZE}).save_pretrained(directory)
    return directory


def image(seed=0, h=90, w=120):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def count_encoder_calls(segmenter):
    calls = []
    segmenter.model.vision_encoder.register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_loads_hf_layout_and_returns_full_size_mask(tiny_sam_dir):
    segmenter = load_segmenter(str(tiny_sam_dir), "cpu")
    assert isinstance(segmenter, SamSegmenter)
    result = segmenter.segment(image(), np.array([[10.0, 20.0]]), np.array([1]))
    assert result.mask.shape == (90, 120) and result.mask.dtype == bool
    assert 0.0 <= result.score <= 1.0


def test_second_click_on_same_image_skips_the_image_encoder(tiny_sam_dir):
    segmenter = load_segmenter(str(tiny_sam_dir), "cpu")
    calls = count_encoder_calls(segmenter)
    first = image()
    segmenter.segment(first, np.array([[10.0, 20.0]]), np.array([1]))
    assert len(calls) == 1
    segmenter.segment(first.copy(), np.array([[10.0, 20.0], [60.0, 50.0]]), np.array([1, 0]))
    segmenter.segment(first, np.array([[100.0, 80.0]]), np.array([1]))
    assert len(calls) == 1
    segmenter.segment(image(seed=1), np.array([[10.0, 20.0]]), np.array([1]))
    assert len(calls) == 2


def test_embedding_cache_is_bounded(tiny_sam_dir):
    segmenter = SamSegmenter.from_pretrained(tiny_sam_dir, cache_size=2)
    calls = count_encoder_calls(segmenter)
    for seed in (0, 1, 2, 0):  # seed 0 was evicted by seed 2
        segmenter.segment(image(seed), np.array([[10.0, 20.0]]), np.array([1]))
    assert len(calls) == 4 and len(segmenter.cache) == 2


def test_points_are_scaled_to_the_encoder_input(tiny_sam_dir, monkeypatch):
    segmenter = load_segmenter(str(tiny_sam_dir), "cpu")
    seen = {}
    forward = segmenter.model.forward

    def spy(**kwargs):
        seen.update(kwargs)
        return forward(**kwargs)

    monkeypatch.setattr(segmenter.model, "forward", spy)
    segmenter.segment(image(h=90, w=120), np.array([[60.0, 45.0]]), np.array([1]))
    # longest side 120 -> 64: scale 64/120 on both axes (reshaped 48 x 64)
    np.testing.assert_allclose(seen["input_points"][0, 0, 0].numpy(), [32.0, 24.0], atol=0.5)
    assert seen["multimask_output"] is True


def test_missing_preprocessor_config_is_a_clear_error(tiny_sam_dir, tmp_path):
    (tmp_path / "config.json").write_text((tiny_sam_dir / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="preprocessor_config.json"):
        load_segmenter(str(tmp_path))


def to_meta_names(state):
    """transformers SamModel names -> segment-anything names (the inverse of sam_meta.RENAMES, written out)."""
    import re

    out = {}
    for key, value in state.items():
        if key.startswith("shared_image_embedding."):
            continue
        key = key.replace("vision_encoder", "image_encoder").replace("patch_embed.projection", "patch_embed.proj")
        key = re.sub(r"image_encoder\.layers\.", "image_encoder.blocks.", key)
        key = key.replace("neck.conv1", "neck.0").replace("neck.layer_norm1", "neck.1")
        key = key.replace("neck.conv2", "neck.2").replace("neck.layer_norm2", "neck.3")
        key = key.replace("shared_embedding.positional_embedding", "pe_layer.positional_encoding_gaussian_matrix")
        key = key.replace("point_embed.", "point_embeddings.")
        for i, name in ((0, "conv1"), (1, "layer_norm1"), (3, "conv2"), (4, "layer_norm2"), (6, "conv3")):
            key = key.replace(f"mask_embed.{name}.", f"mask_downscaling.{i}.")
        for i, name in ((0, "upscale_conv1"), (1, "upscale_layer_norm"), (3, "upscale_conv2")):
            key = key.replace(f"mask_decoder.{name}.", f"mask_decoder.output_upscaling.{i}.")
        key = re.sub(r"(output_hypernetworks_mlps\.\d+|iou_prediction_head)\.layers\.0\.", r"\1.layers.1.", key)
        key = re.sub(r"(output_hypernetworks_mlps\.\d+|iou_prediction_head)\.proj_in\.", r"\1.layers.0.", key)
        key = re.sub(r"(output_hypernetworks_mlps\.\d+|iou_prediction_head)\.proj_out\.", r"\1.layers.2.", key)
        key = key.replace(".layer_norm", ".norm")  # layer_norm1..4, layer_norm_final_attn
        out[key] = value
    out["pixel_mean"], out["pixel_std"] = torch.zeros(3, 1, 1), torch.ones(3, 1, 1)
    return out


def test_meta_checkpoint_loads_into_sammodel(tiny_sam_dir, tmp_path):
    reference = SamModel.from_pretrained(tiny_sam_dir).eval()
    meta = to_meta_names(reference.state_dict())
    assert "image_encoder.blocks.0.norm1.weight" in meta and "mask_decoder.transformer.norm_final_attn.weight" in meta
    assert "mask_decoder.iou_prediction_head.layers.2.weight" in meta and "prompt_encoder.point_embeddings.3.weight" in meta
    torch.save(meta, tmp_path / "sam_tiny.pth")
    segmenter = SamSegmenter.from_meta_checkpoint(tmp_path / "sam_tiny.pth", config=reference.config)
    for name, value in reference.state_dict().items():
        assert torch.equal(segmenter.model.state_dict()[name], value), name
    result = segmenter.segment(image(), np.array([[10.0, 20.0]]), np.array([1]))
    assert result.mask.shape == (90, 120)
    with pytest.raises(ValueError, match="width 32"):
        load_segmenter(str(tmp_path / "sam_tiny.pth"))  # ViT-B/L/H are recognised by width
