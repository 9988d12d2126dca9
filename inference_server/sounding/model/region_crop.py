"""The picture cut to a square around a selected region (``ModelConfig.region_crop``), with the region cut alike,
and optionally everything outside the region set to one grey.

A 7 x 7 patch grid gives a small object a cell or two, mixed with its background; cut to the object's box, the same
object fills the grid (docs/method.md, "Small objects in scenes"). The square keeps the object's proportions through
the encoder's square resize. Even then each cell's features see far beyond it, so a neighbouring object still
colours the clicked one's; on grey it does not (docs/method.md, "The clicked object on grey").
"""
from __future__ import annotations

import numpy as np

from sounding.model.config import RegionCropConfig


def _span(low: int, high: int, side: int, size: int) -> slice:
    """``side`` pixels centred on [low, high] and moved to lie within [0, size); all of it when side >= size."""
    length = min(side, size)
    start = int(round((low + high + 1 - length) / 2))
    start = min(max(start, 0), size - length)
    return slice(start, start + length)


def region_box(region: np.ndarray, config: RegionCropConfig) -> tuple[slice, slice]:
    """(rows, columns) of the square around the region's bounding box; it always contains the whole region."""
    rows, cols = np.nonzero(region)
    if not len(rows):
        raise ValueError("the selected region is empty")
    extent = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
    side = int(round(config.scale * extent + config.margin))
    return (_span(rows.min(), rows.max(), side, region.shape[0]),
            _span(cols.min(), cols.max(), side, region.shape[1]))


def crop_to_region(image: np.ndarray, region: np.ndarray,
                   config: RegionCropConfig) -> tuple[np.ndarray, np.ndarray]:
    """The image and its region, both cut to ``region_box``; with ``config.background`` the image's pixels outside
    the region are that grey."""
    if region.shape != image.shape[:2]:
        raise ValueError(f"region {region.shape} and image {image.shape[:2]} differ in size")
    box = region_box(region, config)
    image, region = image[box], region[box]
    if config.background is not None:
        image = np.where(region[..., None], image, np.asarray(config.background, dtype=image.dtype))
    return image, region
