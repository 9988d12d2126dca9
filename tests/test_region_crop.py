"""The picture cut to the selected region's box (``ModelConfig.region_crop``): the box, the generator's condition
and the training cache, on the tiny seeded model."""
import json

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from sounding.model.config import ModelConfig, RegionCropConfig, named_config
from sounding.model.loading import build_generator
from sounding.model.masking import mask_to_grid
from sounding.model.region_crop import crop_to_region, region_box
from sounding.training.config import TrainConfig
from sounding.training.data import Row, precompute
from sounding.training.loop import DiffusionObjective

CROP = RegionCropConfig(scale=1.2, margin=8)


def box_region(shape, top, left, height, width) -> np.ndarray:
    region = np.zeros(shape, bool)
    region[top:top + height, left:left + width] = True
    return region


def cropping_tiny(background=None):
    data = json.loads(named_config("tiny").to_json())
    return ModelConfig.from_dict({**data, "region_crop": {"scale": CROP.scale, "margin": CROP.margin,
                                                          "background": background}})


def test_the_box_is_a_square_centred_on_the_region():
    region = box_region((200, 300), 90, 140, 20, 10)
    rows, cols = region_box(region, CROP)
    assert (rows, cols) == (slice(84, 116), slice(129, 161))  # side round(1.2 * 20 + 8) = 32
    assert region[rows, cols].sum() == region.sum()


def test_the_box_moves_to_stay_inside_the_picture():
    rows, cols = region_box(box_region((200, 300), 0, 290, 10, 10), CROP)
    assert (rows, cols) == (slice(0, 20), slice(280, 300))


def test_a_box_larger_than_the_picture_keeps_the_whole_side():
    region = box_region((100, 300), 10, 10, 80, 80)
    rows, cols = region_box(region, CROP)  # side 104: all 100 rows, 104 columns from the left edge
    assert (rows, cols) == (slice(0, 100), slice(0, 104))
    assert region[rows, cols].sum() == region.sum()


def test_a_background_greys_everything_outside_the_region_inside_the_box():
    image = np.random.default_rng(2).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    region = box_region((60, 80), 20, 30, 10, 6)
    plain_image, plain_region = crop_to_region(image, region, CROP)
    grey_image, grey_region = crop_to_region(image, region, RegionCropConfig(background=128))
    np.testing.assert_array_equal(grey_region, plain_region)
    np.testing.assert_array_equal(grey_image[grey_region], plain_image[plain_region])
    assert grey_image.dtype == np.uint8 and (grey_image[~grey_region] == 128).all()
    assert not (plain_image[~plain_region] == 128).all()


def test_empty_regions_bad_settings_and_mismatched_sizes_are_errors():
    with pytest.raises(ValueError, match="empty"):
        region_box(np.zeros((10, 10), bool), CROP)
    with pytest.raises(ValueError, match="scale"):
        RegionCropConfig(scale=0.5)
    with pytest.raises(ValueError, match="grey level"):
        RegionCropConfig(background=300)
    with pytest.raises(ValueError, match="differ"):
        crop_to_region(np.zeros((10, 12, 3), np.uint8), np.ones((10, 10), bool), CROP)


def test_the_config_round_trips_through_json():
    config = cropping_tiny()
    assert config.region_crop == CROP
    assert ModelConfig.from_dict(json.loads(config.to_json())) == config
    grey = cropping_tiny(background=128)
    assert ModelConfig.from_dict(json.loads(grey.to_json())).region_crop == RegionCropConfig(background=128)


def test_a_greying_generator_encodes_a_click_on_the_grey_cut_picture():
    plain, greying = build_generator(named_config("tiny")), build_generator(cropping_tiny(background=128))
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    region = box_region((64, 96), 10, 20, 20, 14)
    grey_image, grey_region = crop_to_region(image, region, RegionCropConfig(background=128))
    clicked = greying.condition([image], [None], [region]).condition
    torch.testing.assert_close(clicked, plain.condition([grey_image], [None], [grey_region]).condition)
    cut_image, cut_region = crop_to_region(image, region, CROP)
    assert not torch.allclose(clicked, plain.condition([cut_image], [None], [cut_region]).condition)


def test_a_cropping_generator_encodes_a_click_on_the_cut_picture_and_text_on_the_whole():
    plain, cropping = build_generator(named_config("tiny")), build_generator(cropping_tiny())
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    region = box_region((64, 96), 30, 50, 12, 8)
    cut_image, cut_region = crop_to_region(image, region, CROP)
    clicked = cropping.condition([image], [None], [region]).condition
    torch.testing.assert_close(clicked, plain.condition([cut_image], [None], [cut_region]).condition)
    assert not torch.allclose(clicked, plain.condition([image], [None], [region]).condition)
    torch.testing.assert_close(cropping.condition([image], ["a bell"], [None]).condition,
                               plain.condition([image], ["a bell"], [None]).condition)


def test_training_rows_with_a_mask_are_cached_cut_to_it(tmp_path):
    generator = build_generator(cropping_tiny())
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    region = box_region((64, 96), 5, 70, 10, 20)
    Image.fromarray(image).save(tmp_path / "scene.png")
    Image.fromarray(region.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    soundfile.write(tmp_path / "clip.wav", rng.uniform(-0.5, 0.5, 8000).astype(np.float32), 16000)
    rows = [Row(tmp_path / "scene.png", tmp_path / "clip.wav", "a bell", (tmp_path / "mask.png",)),
            Row(tmp_path / "scene.png", tmp_path / "clip.wav", "a bell")]
    data = precompute(generator, rows, generator.frames(0.32), "diffusion", ("conditioner", "unet"), None)
    cut_image, cut_region = crop_to_region(image, region, CROP)
    encoder = generator.image_encoder
    with torch.no_grad():
        expected = encoder(encoder.preprocess([cut_image, image])).half()
    torch.testing.assert_close(data["patches"], expected)
    grid = torch.from_numpy(mask_to_grid(cut_region, encoder.grid_size)).half()
    torch.testing.assert_close(data["mask_grid"][0], grid)
    assert data["has_mask"].tolist() == [True, False]


def test_captions_attend_over_the_whole_picture_and_clicks_keep_the_crops_spread(tmp_path):
    generator = build_generator(cropping_tiny())
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    region = box_region((64, 96), 40, 10, 12, 16)
    Image.fromarray(image).save(tmp_path / "scene.png")
    Image.fromarray(region.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    soundfile.write(tmp_path / "clip.wav", rng.uniform(-0.5, 0.5, 8000).astype(np.float32), 16000)
    rows = [Row(tmp_path / "scene.png", tmp_path / "clip.wav", "a bell", (tmp_path / "mask.png",))] * 2
    parts = ("conditioner", "unet")
    assert "caption_patches" not in precompute(generator, rows, generator.frames(0.32), "diffusion", parts, None)
    data = precompute(generator, rows, generator.frames(0.32), "diffusion", parts, None, whole_picture_captions=True)
    encoder = generator.image_encoder
    with torch.no_grad():
        whole = encoder(encoder.preprocess([image])).half()
    torch.testing.assert_close(data["caption_patches"][:1], whole)
    torch.testing.assert_close(data["caption_mask_grid"][0], torch.from_numpy(mask_to_grid(region, encoder.grid_size)).half())
    assert not torch.allclose(data["caption_patches"], data["patches"])

    batch = {k: v.float() if v.is_floating_point() else v for k, v in data.items()}
    objective = DiffusionObjective(generator, TrainConfig(manifest="m.csv", attention_mask_weight=1.0))
    conditioner = generator.conditioner.eval()
    with torch.no_grad():
        crop_spread = conditioner.attention(batch["patches"], batch["query"]).std(dim=-1, unbiased=False).mean(0)
    conditioner.train()
    with torch.no_grad():
        loss = objective(batch, ["a bell"] * 2, torch.Generator().manual_seed(0))
        # The click's spread is the crop's, though the captions' condition came from the whole picture.
        torch.testing.assert_close(conditioner.attention_std, crop_spread)
        crop_only = {k: v for k, v in batch.items() if not k.startswith("caption_")}
        assert objective(crop_only, ["a bell"] * 2, torch.Generator().manual_seed(0)) != loss
