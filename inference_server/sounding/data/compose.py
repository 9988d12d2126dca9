"""Scenes: 1-3 cut-out objects on a varied background, with one exact mask per object (the visible part of its
alpha after later objects are pasted over it)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass
class ComposeConfig:
    size: int = 256
    #: Object height/width relative to the canvas, for one object and for several.
    single_scale: tuple[float, float] = (0.55, 0.85)
    multi_scale: tuple[float, float] = (0.32, 0.55)
    #: An object must keep this share of its own pixels visible, or the placement is retried.
    min_visible: float = 0.5
    placement_tries: int = 30


_TEXTURES: dict[str, np.ndarray] = {}


def _texture(name: str) -> np.ndarray:
    """skimage's bundled CC0 textures (grass, gravel, brick), loaded once."""
    if name not in _TEXTURES:
        import skimage.data

        _TEXTURES[name] = getattr(skimage.data, name)().astype(np.float32) / 255.0
    return _TEXTURES[name]


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """An RGB float image in [0, 1]: a tinted texture, a two-colour gradient (sky/ground-like) or noisy flat colour."""
    kind = rng.integers(3)
    colour_a, colour_b = rng.uniform(0.1, 0.95, size=(2, 3))
    if kind == 0:
        texture = _texture(("grass", "gravel", "brick")[rng.integers(3)])
        top, left = rng.integers(0, texture.shape[0] - size + 1, size=2)
        patch = texture[top: top + size, left: left + size, None]
        return np.clip(colour_a * (0.4 + 0.9 * patch), 0.0, 1.0)
    if kind == 1:
        ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
        horizon = rng.uniform(0.3, 0.7)
        weight = 1.0 / (1.0 + np.exp(-(ramp - horizon) * rng.uniform(5, 40)))
        return np.broadcast_to(colour_a * (1 - weight) + colour_b * weight, (size, size, 3)).copy()
    return np.clip(colour_a + rng.normal(0.0, 0.04, size=(size, size, 3)), 0.0, 1.0)


def _scaled(cutout: Image.Image, longest: int) -> Image.Image:
    scale = longest / max(cutout.size)
    resized = cutout.resize((max(1, round(cutout.width * scale)), max(1, round(cutout.height * scale))), Image.LANCZOS)
    alpha = np.asarray(resized)[..., 3]
    resized.putalpha(Image.fromarray(np.where(alpha >= 128, 255, 0).astype(np.uint8)))
    return resized


def compose_scene(cutouts: list[Image.Image], rng: np.random.Generator,
                  config: ComposeConfig | None = None) -> tuple[Image.Image, list[np.ndarray]]:
    """-> (RGB scene, one boolean mask per cut-out, in the given order). Later cut-outs are in front."""
    config = config or ComposeConfig()
    if not 1 <= len(cutouts) <= 3:
        raise ValueError(f"a scene holds 1-3 objects, got {len(cutouts)}")
    low, high = config.single_scale if len(cutouts) == 1 else config.multi_scale
    for _ in range(config.placement_tries):
        canvas = background(rng, config.size)
        owner = np.full((config.size, config.size), -1, dtype=np.int32)
        own_areas = []
        for index, cutout in enumerate(cutouts):
            placed = _scaled(cutout, int(rng.uniform(low, high) * config.size))
            top = rng.integers(0, config.size - placed.height + 1)
            left = rng.integers(0, config.size - placed.width + 1)
            pixels = np.asarray(placed).astype(np.float32) / 255.0
            solid = pixels[..., 3] > 0.5
            own_areas.append(int(solid.sum()))
            region = (slice(top, top + placed.height), slice(left, left + placed.width))
            canvas[region][solid] = pixels[..., :3][solid]
            owner[region][solid] = index
        masks = [owner == index for index in range(len(cutouts))]
        if all(mask.sum() >= config.min_visible * area for mask, area in zip(masks, own_areas)):
            return Image.fromarray((canvas * 255).round().astype(np.uint8), "RGB"), masks
    raise RuntimeError("could not place the objects without hiding one of them")
