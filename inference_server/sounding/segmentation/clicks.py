"""The standard interactive-segmentation protocol (as in RITM / SimpleClick evaluations).

Click 1 is the object's interior point farthest from its boundary. Each next click goes to the largest error region
(by area) at its interior point farthest from the region's boundary: positive when the region is a missed part of the
object (false negative), negative when it is a false positive.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass
class Click:
    x: float
    y: float
    positive: bool


def interior_point(region: np.ndarray) -> tuple[int, int]:
    """(x, y) of the pixel of ``region`` (H, W) bool farthest from its boundary (the image border counts as one)."""
    distance = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x), int(y)


def next_click(truth: np.ndarray, prediction: np.ndarray | None) -> Click | None:
    """The next click given the ground truth and the current prediction (None before the first click);
    None when there is nothing left to correct."""
    if prediction is None:
        if not truth.any():
            raise ValueError("the ground-truth mask is empty")
        x, y = interior_point(truth)
        return Click(x, y, True)
    best_area, best = 0, None
    for error, positive in ((truth & ~prediction, True), (prediction & ~truth, False)):
        parts, count = ndimage.label(error)
        if count == 0:
            continue
        areas = np.bincount(parts.ravel())[1:]
        largest = int(np.argmax(areas))
        if areas[largest] > best_area:
            best_area, best = areas[largest], (parts == largest + 1, positive)
    if best is None:
        return None
    x, y = interior_point(best[0])
    return Click(x, y, best[1])


def iou(prediction: np.ndarray, truth: np.ndarray) -> float:
    union = np.logical_or(prediction, truth).sum()
    return float(np.logical_and(prediction, truth).sum() / union) if union else 1.0
