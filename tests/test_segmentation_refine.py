"""The colour refinement: it snaps a blurred coarse mask to a sharp-edged object and keeps the clicks' labels."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sounding.segmentation.clicks import iou
from sounding.segmentation.refine import (CLICK_LOGIT, RefineConfig, click_discs, colour_index, colour_log_ratio,
                                          refine_logits)


def star_scene(h=120, w=160):
    """A red five-pointed star (thin points: hard for a stride-4 mask) on seeded grey-green noise."""
    yy, xx = np.mgrid[:h, :w]
    angle = np.arctan2(yy - 60, xx - 80)
    radius = np.hypot(yy - 60, xx - 80)
    star = radius < 22 + 22 * np.abs(np.cos(2.5 * angle)) ** 3
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal((90, 120, 90), 12, (h, w, 3)), 0, 255)
    image[star] = np.clip(rng.normal((210, 40, 30), 8, (star.sum(), 3)), 0, 255)
    return image.astype(np.uint8), star


def coarse_logits(truth: np.ndarray, stride: int = 4, shift: int = 3) -> np.ndarray:
    """What a stride-4 network gives at best: the truth averaged over 4x4 cells, shifted, upsampled bilinearly."""
    target = torch.from_numpy(np.roll(truth, shift, axis=1)).float()[None, None]
    coarse = F.avg_pool2d(target, stride)
    up = F.interpolate(coarse, size=truth.shape, mode="bilinear", align_corners=False)[0, 0].numpy()
    return 6 * (up - 0.5)  # probability -> a soft logit


def test_refinement_snaps_a_blurred_mask_to_the_object():
    image, star = star_scene()
    logits = coarse_logits(star)
    points, labels = np.array([[80.0, 60.0]]), np.array([1])
    refined = refine_logits(colour_index(image, 16), logits, points, labels, RefineConfig())
    before, after = iou(logits > 0, star), iou(refined > 0, star)
    assert before < 0.85
    assert after > 0.97 and after > before + 0.1


def test_clicks_keep_their_labels():
    image, star = star_scene()
    logits = coarse_logits(star, shift=0)
    # a negative click on the star's centre: colour says object, the click says no
    points, labels = np.array([[80.0, 60.0], [150.0, 10.0]]), np.array([0, 1])
    config = RefineConfig(click_radius=0.05)
    refined = refine_logits(colour_index(image, 16), logits, points, labels, config)
    assert refined[60, 80] == -CLICK_LOGIT and refined[10, 150] == CLICK_LOGIT
    assert (refined[55:65, 75:85] < 0).all()  # the whole disc (radius 8 px)
    assert (refined[star] > 0).mean() > 0.9  # elsewhere the star is still found


def test_click_discs_later_click_wins_and_stay_inside():
    discs = click_discs(np.array([[5.0, 5.0], [6.0, 5.0]]), np.array([1, 0]), (20, 30), radius=0.1)
    assert discs.shape == (20, 30) and discs[5, 6] == -1 and discs[5, 2] == 1 and discs[15, 25] == 0


def test_colour_ratio_is_neutral_without_confident_background():
    image, star = star_scene()
    logits = np.full(star.shape, 5.0, np.float32)
    assert not colour_log_ratio(colour_index(image, 16), logits, RefineConfig()).any()


def test_colour_index_bins():
    image = np.array([[[0, 0, 0], [255, 255, 255], [16, 0, 0], [15, 0, 0]]], np.uint8)
    index = colour_index(image, 16)
    assert index.tolist() == [[0, 16**3 - 1, 256, 0]]


@pytest.mark.parametrize("field, value", [("colour_bins", 1), ("confident", 0.5), ("confident", 1.0),
                                          ("colour_weight", -1.0), ("prior_count", 0.0), ("click_radius", -0.1)])
def test_bad_config_raises(field, value):
    with pytest.raises(ValueError):
        RefineConfig(**{field: value})


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape"):
        refine_logits(np.zeros((4, 4), np.int32), np.zeros((4, 5), np.float32), np.array([[1.0, 1.0]]),
                      np.array([1]), RefineConfig())
