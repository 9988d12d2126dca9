"""Camera and image geometry as plain numpy (no bpy), so it is unit-tested outside Blender.

Image coordinates follow the wire protocol: pixels, origin at the top-left corner, pixel (i, j) covering
[i, i + 1) x [j, j + 1). Frame coordinates (u, v) run 0..1 across the camera frame with v = 0 at the bottom, as
Blender's image editor UVs and camera ``view_frame`` corners do.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Capture:
    """Which object every pixel of a captured render shows: ``ids`` (H, W) int32, 0 = nothing, k = ``names[k - 1]``."""

    ids: np.ndarray
    names: list[str]

    def object_index(self, x: float, y: float) -> int:
        height, width = self.ids.shape
        if not inside(x, y, width, height):
            return 0
        return int(self.ids[int(y), int(x)])

    def mask(self, indices) -> np.ndarray:
        return np.isin(self.ids, sorted(indices))

    def point_on(self, name: str) -> tuple[float, float] | None:
        """A pixel centre that shows the object ``name``: of its visible pixels, the one nearest their centroid (so it
        lies on the object even when the centroid does not, as in a ring); None when it is not in view."""
        index = self.names.index(name) + 1 if name in self.names else 0
        ys, xs = np.nonzero(self.ids == index) if index else (np.empty(0), np.empty(0))
        if not len(xs):
            return None
        nearest = np.argmin((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2)
        return float(xs[nearest]) + 0.5, float(ys[nearest]) + 0.5


def capture_size(resolution_x: int, resolution_y: int, long_side: int) -> tuple[int, int]:
    """Size of a capture whose longer side is ``long_side`` pixels and whose aspect is the scene's output aspect."""
    if resolution_x <= 0 or resolution_y <= 0 or long_side <= 0:
        raise ValueError("resolutions must be positive")
    scale = long_side / max(resolution_x, resolution_y)
    return max(1, round(resolution_x * scale)), max(1, round(resolution_y * scale))


def pixel_to_uv(x: float, y: float, width: int, height: int) -> tuple[float, float]:
    return x / width, 1.0 - y / height


def uv_to_pixel(u: float, v: float, width: int, height: int) -> tuple[float, float]:
    return u * width, (1.0 - v) * height


def inside(x: float, y: float, width: int, height: int) -> bool:
    return 0.0 <= x < width and 0.0 <= y < height


def frame_rays(corners: np.ndarray, matrix_world: np.ndarray, ortho: bool, u: np.ndarray,
               v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World-space rays through frame points (u, v).

    ``corners``: the camera's ``view_frame`` in camera space, (4, 3) in Blender's order top-right, bottom-right,
    bottom-left, top-left. ``matrix_world``: the camera's (4, 4) matrix. Returns origins and unit directions, (N, 3).
    """
    corners = np.asarray(corners, np.float64)
    matrix = np.asarray(matrix_world, np.float64)
    top_right, bottom_right, bottom_left, top_left = corners
    u = np.asarray(u, np.float64).reshape(-1, 1)
    v = np.asarray(v, np.float64).reshape(-1, 1)
    local = bottom_left + (bottom_right - bottom_left) * u + (top_left - bottom_left) * v
    rotation, translation = matrix[:3, :3], matrix[:3, 3]
    if ortho:
        local[:, 2] = 0.0
        origins = local @ rotation.T + translation
        direction = rotation @ np.array([0.0, 0.0, -1.0])
        directions = np.broadcast_to(direction / np.linalg.norm(direction), origins.shape).copy()
        return origins, directions
    directions = local @ rotation.T
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return np.broadcast_to(translation, directions.shape).copy(), directions


def pixel_centres(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame (u, v) of every pixel centre, row-major from the top-left pixel."""
    ys, xs = np.mgrid[0:height, 0:width]
    return (xs.ravel() + 0.5) / width, 1.0 - (ys.ravel() + 0.5) / height
