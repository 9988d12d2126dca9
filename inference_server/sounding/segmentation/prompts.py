"""Input checks shared by the segmenters (clear errors, never ``assert``)."""
from __future__ import annotations

import numpy as np


def check_image(image: np.ndarray) -> None:
    """Raise ValueError unless ``image`` is (H, W, 3) uint8."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")


def check_prompts(points: np.ndarray, labels: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """points (N, 2) x, y pixels and labels (N,) in {0, 1} -> float32 points, int64 labels. ``size`` is (H, W)."""
    points = np.asarray(points, np.float32).reshape(-1, 2) if np.size(points) else np.zeros((0, 2), np.float32)
    labels = np.asarray(labels, np.int64).reshape(-1)
    if len(points) == 0:
        raise ValueError("at least one click is needed")
    if len(points) != len(labels):
        raise ValueError(f"{len(points)} points but {len(labels)} labels")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0 (not the object) or 1 (the object), got {sorted(set(labels.tolist()))}")
    if not (labels == 1).any():
        raise ValueError("at least one positive click (label 1) is needed")
    h, w = size
    if (points < 0).any() or (points[:, 0] >= w).any() or (points[:, 1] >= h).any():
        raise ValueError(f"clicks must lie inside the {w}x{h} image, got {points.tolist()}")
    return points, labels
