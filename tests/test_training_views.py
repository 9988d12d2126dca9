"""Augmented views of the train pictures (``TrainConfig.image_views``): the views themselves, their place in the
feature cache, the config's checks, and a short training run that draws them."""
import json

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from sounding.model.config import ModelConfig, RegionCropConfig, named_config
from sounding.model.loading import build_generator
from sounding.model.masking import mask_to_grid
from sounding.training.config import TrainConfig, ViewAugmentConfig
from sounding.training.data import Row, precompute, row_view, row_views
from sounding.training.loop import train
from sounding.training.views import augmented_view

GREY = RegionCropConfig(background=128)
#: Only the mirror: every other range is the identity, so a view can be predicted exactly.
MIRROR_ONLY = ViewAugmentConfig(flip=1.0, brightness=(1, 1), saturation=(1, 1), contrast=(1, 1), crop_scale=(1, 1),
                                rotation_degrees=0)


def picture_and_region(seed=0, shape=(64, 96)):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    region = np.zeros(shape, bool)
    region[10:30, 12:20] = True  # a tall bar left of centre
    region[26:30, 20:40] = True  # with a foot pointing right: mirroring is visible
    return image, region


def dilated(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` grown by ``radius`` pixels in every direction (a square structuring element)."""
    padded, grown = np.pad(mask, radius), np.zeros_like(mask)
    height, width = mask.shape
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            grown |= padded[dy:dy + height, dx:dx + width]
    return grown


def write_rows(tmp_path, count=3):
    rows = []
    for i in range(count):
        image, region = picture_and_region(seed=i)
        Image.fromarray(image).save(tmp_path / f"{i}.png")
        Image.fromarray(region.astype(np.uint8) * 255).save(tmp_path / f"{i}-mask.png")
        audio = np.random.default_rng(i).uniform(-0.5, 0.5, 8000).astype(np.float32)
        soundfile.write(tmp_path / f"{i}.wav", audio, 16000)
        rows.append(Row(tmp_path / f"{i}.png", tmp_path / f"{i}.wav", f"sound {i}", (tmp_path / f"{i}-mask.png",)))
    return rows


def greying_tiny():
    return ModelConfig.from_dict({**json.loads(named_config("tiny").to_json()),
                                  "region_crop": {"scale": 1.2, "margin": 8, "background": 128}})


def test_a_mirror_view_is_the_mirrored_picture_cut_and_greyed_like_a_click():
    image, region = picture_and_region()
    view, view_region = augmented_view(image, region, GREY, MIRROR_ONLY, np.random.default_rng(0))
    from sounding.model.region_crop import crop_to_region

    expected_image, expected_region = crop_to_region(image[:, ::-1].copy(), region[:, ::-1].copy(), GREY)
    np.testing.assert_array_equal(view, expected_image)
    np.testing.assert_array_equal(view_region, expected_region)
    assert (view[~view_region] == 128).all()


def test_random_views_keep_the_object_on_grey_and_follow_the_seed():
    image, region = picture_and_region()
    config = ViewAugmentConfig()
    first = [augmented_view(image, region, GREY, config, np.random.default_rng(5)) for _ in range(2)]
    np.testing.assert_array_equal(first[0][0], first[1][0])
    other = augmented_view(image, region, GREY, config, np.random.default_rng(6))
    assert not np.array_equal(first[0][0], other[0])
    for view, view_region in (first[0], other):
        assert view.dtype == np.uint8 and view.shape[2] == 3 and view.shape[:2] == view_region.shape
        assert view_region.any()
        # Outside the (rotated) region, beyond bicubic's reach: the grey surround or the grey rotation fill.
        far = ~dilated(view_region, 2)
        assert np.abs(view[far].astype(int) - 128).max() <= 2


def test_a_row_without_a_mask_gets_views_of_the_whole_picture(tmp_path):
    image, _ = picture_and_region()
    Image.fromarray(image).save(tmp_path / "p.png")
    row = Row(tmp_path / "p.png", tmp_path / "a.wav", "a bell")
    views = row_views(row, GREY, 3, ViewAugmentConfig(), np.random.default_rng(0))
    assert len(views) == 3 and all(region is None for _, region in views)
    np.testing.assert_array_equal(views[0][0], image)
    assert all(view.shape == image.shape for view, _ in views)


def test_the_cache_holds_the_own_view_first_then_the_random_ones(tmp_path):
    generator = build_generator(greying_tiny())
    rows = write_rows(tmp_path)
    frames, parts = generator.frames(0.32), ("conditioner", "unet")
    single = precompute(generator, rows, frames, "diffusion", parts, None)
    several = precompute(generator, rows, frames, "diffusion", parts, None, views=3, seed=7)
    grid = generator.image_encoder.grid_size
    assert several["patches"].shape == (3, 3, grid * grid, single["patches"].shape[-1])
    assert several["mask_grid"].shape == (3, 3, grid * grid)
    torch.testing.assert_close(several["patches"][:, 0], single["patches"])
    torch.testing.assert_close(several["mask_grid"][:, 0], single["mask_grid"])
    assert not torch.allclose(several["patches"][:, 1], several["patches"][:, 2])
    # Row 1's second view: its own random draws, whatever the other rows are.
    view, view_region = row_views(rows[1], generator.config.region_crop, 3, ViewAugmentConfig(),
                                  np.random.default_rng([7, 1]))[1]
    encoder = generator.image_encoder
    with torch.no_grad():
        torch.testing.assert_close(several["patches"][1, 1], encoder(encoder.preprocess([view]))[0].half())
    torch.testing.assert_close(several["mask_grid"][1, 1], torch.from_numpy(mask_to_grid(view_region, grid)).half())
    np.testing.assert_array_equal(row_view(rows[1], generator.config.region_crop)[0],
                                  row_views(rows[1], generator.config.region_crop, 1, ViewAugmentConfig(),
                                            np.random.default_rng(0))[0][0])


def test_views_need_a_frozen_image_encoder_and_sane_ranges(tmp_path):
    with pytest.raises(ValueError, match="image_views must be"):
        TrainConfig(manifest="m.csv", image_views=0).validate()
    with pytest.raises(ValueError, match="cannot train the image encoder"):
        TrainConfig(manifest="m.csv", image_views=2, train=("image_encoder", "conditioner")).validate()
    with pytest.raises(ValueError, match="unknown view_augment keys"):
        TrainConfig.from_dict({"manifest": "m.csv", "view_augment": {"hue": (0.9, 1.1)}})
    with pytest.raises(ValueError, match="brightness"):
        ViewAugmentConfig(brightness=(1.2, 0.8))
    with pytest.raises(ValueError, match="flip"):
        ViewAugmentConfig(flip=2.0)
    config = TrainConfig.from_dict({"manifest": "m.csv", "image_views": 4,
                                    "view_augment": {"rotation_degrees": 5, "crop_scale": [1, 1.5]}})
    assert config.view_augment == ViewAugmentConfig(rotation_degrees=5, crop_scale=(1.0, 1.5))
    assert TrainConfig.from_dict(json.loads(config.to_json())) == config
    generator = build_generator(named_config("tiny"))
    with pytest.raises(ValueError, match="frozen image encoder"):
        precompute(generator, write_rows(tmp_path, 1), generator.frames(0.32), "diffusion",
                   ("image_encoder", "conditioner"), None, views=2)


def test_a_run_with_views_trains_resumes_and_keys_its_cache_by_them(tmp_path):
    rows = write_rows(tmp_path, 4)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("image,audio,caption,mask\n" + "".join(
        f"{r.image.name},{r.audio.name},{r.caption},{r.masks[0].name}\n" for r in rows))
    common = dict(model="tiny", model_overrides={"region_crop": {"scale": 1.2, "margin": 8, "background": 128}},
                  manifest=str(manifest), clip_seconds=0.32, batch_size=4, image_views=3, save_every=2)
    whole = train(TrainConfig(**common, output=str(tmp_path / "whole"), max_steps=4), show_progress=False)
    train(TrainConfig(**common, output=str(tmp_path / "halves"), max_steps=2), show_progress=False)
    resumed = train(TrainConfig(**common, output=str(tmp_path / "halves"), max_steps=4), show_progress=False)
    assert len(whole.losses) == 4 and all(np.isfinite(whole.losses))
    np.testing.assert_allclose(resumed.losses, whole.losses[2:], rtol=1e-5)
    from safetensors.torch import load_file

    cached = load_file(str(tmp_path / "whole" / "features.safetensors"))
    assert cached["patches"].shape[:2] == (4, 3)
    single = train(TrainConfig(**{**common, "image_views": 1}, output=str(tmp_path / "whole"), max_steps=5),
                   show_progress=False)
    assert len(single.losses) == 1
    assert load_file(str(tmp_path / "whole" / "features.safetensors"))["patches"].dim() == 3
