"""Test-time refinement of the click network's coarse mask with a per-image colour model.

The decoder predicts at stride 4, so its upsampled logits are blurred across object edges and miss thin parts.
Objects usually differ in colour from what surrounds them: pixels the network is sure about give a colour histogram
of the object and one of the rest, their log-likelihood ratio is sharp at pixel resolution, and adding it (weighted)
to the network's logit snaps the mask to colour edges (a one-step, GrabCut-like colour term without the graph cut).
Clicks are hard constraints: a disc around each click keeps its label.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Logit written into the discs around clicks (a sure object / sure background pixel).
CLICK_LOGIT = 20.0
#: Most histogram bins per channel (the histogram has bins^3 entries).
MAX_BINS = 64


@dataclass(frozen=True)
class RefineConfig:
    """Defaults measured on held-out composites and renders (docs/segmentation.md)."""

    colour_bins: int = 16  # histogram bins per RGB channel (16^3 colours)
    colour_weight: float = 8.0  # weight of the colour log-likelihood ratio added to the network's logit
    confident: float = 0.8  # network p above which a pixel's colour counts for the object (below 1 - p: the rest)
    prior_count: float = 1.0  # pseudo-count per histogram bin, so unseen colours are neutral
    click_radius: float = 0.01  # radius of the disc kept at each click's label, fraction of the image's longest side

    def __post_init__(self):
        if not 2 <= self.colour_bins <= MAX_BINS:
            raise ValueError(f"colour_bins must be in 2..{MAX_BINS}, got {self.colour_bins}")
        if not 0.5 < self.confident < 1:
            raise ValueError(f"confident must be in (0.5, 1), got {self.confident}")
        if self.colour_weight < 0 or self.prior_count <= 0 or self.click_radius < 0:
            raise ValueError("colour_weight and click_radius must be >= 0 and prior_count > 0")


def colour_index(image: np.ndarray, bins: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) int32 histogram bin of each pixel's colour (``bins`` per channel)."""
    q = (image.astype(np.int32) * bins) >> 8
    return (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]


def colour_log_ratio(index: np.ndarray, logits: np.ndarray, config: RefineConfig) -> np.ndarray:
    """log P(colour | object) - log P(colour | rest) per pixel, the histograms taken from the pixels whose logit is
    confidently positive / negative; zero when either side has no confident pixel."""
    threshold = float(np.log(config.confident / (1 - config.confident)))
    colours = config.colour_bins**3
    inside, outside = logits > threshold, logits < -threshold
    if not inside.any() or not outside.any():
        return np.zeros(logits.shape, np.float32)
    fg = np.bincount(index[inside], minlength=colours) + config.prior_count
    bg = np.bincount(index[outside], minlength=colours) + config.prior_count
    ratio = np.log(fg / fg.sum()) - np.log(bg / bg.sum())
    return ratio.astype(np.float32)[index]


def click_discs(points: np.ndarray, labels: np.ndarray, shape: tuple[int, int], radius: float) -> np.ndarray:
    """(H, W) float32: +1 inside positive click discs, -1 inside negative ones (later clicks win), 0 elsewhere;
    ``radius`` is a fraction of the longest side (at least one pixel)."""
    h, w = shape
    r = max(1.0, radius * max(h, w))
    out = np.zeros(shape, np.float32)
    for (x, y), label in zip(points, labels):
        y0, y1 = max(0, int(y - r)), min(h, int(y + r) + 1)
        x0, x1 = max(0, int(x - r)), min(w, int(x + r) + 1)
        yy, xx = np.ogrid[y0:y1, x0:x1]
        disc = (xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= r * r
        out[y0:y1, x0:x1][disc] = 1.0 if label == 1 else -1.0
    return out


def refine_logits(index: np.ndarray, logits: np.ndarray, points: np.ndarray, labels: np.ndarray,
                  config: RefineConfig) -> np.ndarray:
    """index (H, W) from :func:`colour_index`; logits (H, W) the network's, upsampled; points (N, 2) x, y pixels;
    labels (N,) 1/0 -> refined (H, W) logits (object where > 0)."""
    if index.shape != logits.shape:
        raise ValueError(f"colour index {index.shape} and logits {logits.shape} differ in shape")
    discs = click_discs(points, labels, logits.shape, config.click_radius)
    clicked = discs != 0
    logits = np.where(clicked, discs * CLICK_LOGIT, logits)
    refined = logits + config.colour_weight * colour_log_ratio(index, logits, config)
    return np.where(clicked, discs * CLICK_LOGIT, refined)
