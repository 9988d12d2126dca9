"""Composites with exact masks: cut-out objects (RGBA) pasted over varied backgrounds.

Objects come from Debian packages installed at build time and are never committed: ``tuxpaint-stamps-default``
(photo-real cut-outs, GPL-2+) and ``openclipart-png`` (public-domain clip art, object categories only). Each object
file falls in the ``train`` or ``heldout`` split by a stable hash of its path, so held-out composites show objects
never seen in training. Backgrounds are crops of scikit-image's bundled photos and textures (CC0 / public domain),
procedural gradients, noise and stripes, and clutter made of other objects of the same split.

The target object is pasted first; 0-3 distractor objects may occlude it. The ground-truth mask is where the
target's visible alpha exceeds 0.5.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

CUTOUT_ROOTS = (Path("/usr/share/tuxpaint/stamps"), Path("/usr/share/openclipart/png"))
#: openclipart folders that hold pictures of things (icons, symbols, maps and shapes are left out).
OPENCLIPART_CATEGORIES = ("animals", "food", "transportation", "tools", "plants", "electronics", "office",
                          "recreation", "people", "containers", "buildings", "science", "education", "decorations")
HELDOUT_FRACTION = 0.2
#: Longest side of a stored cut-out.
CUTOUT_SIZE = 256
#: Pictures above this many pixels are skipped (a few clip-art posters are hundreds of megapixels).
MAX_SOURCE_PIXELS = 16_000_000
SPLITS = ("train", "heldout")
#: Longest side of the target as a fraction of the image's shorter side: an object in a scene, and a close-up (a
#: photo of one object filling the frame, cut by its edges).
TARGET_SCALE = (0.25, 0.9)
CLOSEUP_SCALE = (1.0, 2.2)


@dataclass
class Composite:
    image: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) bool, the target object's visible pixels


def split_of(path: Path | str) -> str:
    """``heldout`` for a stable ~20% of object files (by path hash), ``train`` for the rest."""
    digest = int(hashlib.sha1(str(path).encode()).hexdigest()[:8], 16)
    return "heldout" if digest % 1000 < HELDOUT_FRACTION * 1000 else "train"


def cutout_files() -> list[Path]:
    """Installed object pictures, in a stable order (mirrored and shadow variants skipped)."""
    tuxpaint, openclipart = CUTOUT_ROOTS
    files = sorted(tuxpaint.rglob("*.png"))
    for category in OPENCLIPART_CATEGORIES:
        files += sorted((openclipart / category).rglob("*.png"))
    return [f for f in files if not f.stem.endswith(("_mirror", "_shadow"))]


def load_cutout(path: Path, max_side: int = CUTOUT_SIZE) -> np.ndarray | None:
    """An RGBA picture cropped to its object -> (h, w, 4) uint8 with max(h, w) <= ``max_side``, or None when it is
    no single object on transparency (no alpha, fully opaque, tiny, huge, or scattered into several large parts)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            picture = Image.open(path)
    except Image.DecompressionBombError:
        return None
    with picture:
        too_big = picture.size[0] * picture.size[1] > MAX_SOURCE_PIXELS
        if too_big or ("A" not in picture.getbands() and "transparency" not in picture.info):
            return None
        rgba = np.asarray(picture.convert("RGBA"))
    solid = rgba[..., 3] > 127
    if not solid.any():
        return None
    ys, xs = np.nonzero(solid)
    rgba = rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    solid = solid[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    if min(solid.shape) < 24 or not 0.15 <= solid.mean() <= 0.97:
        return None
    parts, count = ndimage.label(solid)
    if count > 1 and np.bincount(parts.ravel())[1:].max() < 0.9 * solid.sum():
        return None
    scale = max_side / max(rgba.shape[:2])
    if scale < 1:
        size = (max(1, round(rgba.shape[1] * scale)), max(1, round(rgba.shape[0] * scale)))
        rgba = np.asarray(Image.fromarray(rgba).resize(size, Image.Resampling.LANCZOS))
    return rgba


def build_cutouts(data_dir: Path) -> dict[str, int]:
    """Load every usable installed object picture once and store each split as ``cutouts-<split>.npz`` in
    ``data_dir`` (flat pixels + shapes + source paths). Returns the number of objects per split."""
    files = cutout_files()
    if not files:
        raise FileNotFoundError("no cut-outs installed: apt-get install tuxpaint-stamps-default openclipart-png")
    objects: dict[str, list[tuple[str, np.ndarray]]] = {split: [] for split in SPLITS}
    for path in files:
        rgba = load_cutout(path)
        if rgba is not None:
            objects[split_of(path)].append((str(path), rgba))
    data_dir.mkdir(parents=True, exist_ok=True)
    for split, items in objects.items():
        np.savez(data_dir / f"cutouts-{split}.npz", pixels=np.concatenate([a.ravel() for _, a in items]),
                 shapes=np.array([a.shape[:2] for _, a in items]), paths=np.array([p for p, _ in items]))
    return {split: len(items) for split, items in objects.items()}


def load_cutouts(data_dir: Path, split: str) -> list[np.ndarray]:
    """The stored RGBA cut-outs of one split (built on first use)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    file = data_dir / f"cutouts-{split}.npz"
    if not file.is_file():
        build_cutouts(data_dir)
    with np.load(file) as stored:
        pixels, shapes = stored["pixels"], stored["shapes"]
    ends = np.cumsum([h * w * 4 for h, w in shapes])
    return [chunk.reshape(h, w, 4) for chunk, (h, w) in zip(np.split(pixels, ends[:-1]), shapes)]


def background_photos() -> list[np.ndarray]:
    """scikit-image's bundled photos and textures as (H, W, 3) uint8."""
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.hubble_deep_field(),
              data.immunohistochemistry(), data.retina(), data.stereo_motorcycle()[0], data.colorwheel()]
    greys = [data.brick(), data.grass(), data.gravel(), data.camera(), data.moon(), data.text(), data.page(),
             data.clock(), data.coins()]
    photos += [np.repeat(g[..., None], 3, 2) for g in greys]
    return [p[..., :3].astype(np.uint8) for p in photos]


def random_background(rng: np.random.Generator, size: tuple[int, int], photos: list[np.ndarray]) -> np.ndarray:
    """(H, W, 3) uint8: a jittered photo crop (60%), a gradient, smooth noise, or stripes."""
    h, w = size
    kind = rng.random()
    if kind < 0.6:
        photo = photos[rng.integers(len(photos))]
        scale = rng.uniform(max(h / photo.shape[0], w / photo.shape[1]), max(1.0, 2 * h / photo.shape[0]))
        resized = np.asarray(Image.fromarray(photo).resize((max(w, round(photo.shape[1] * scale)),
                                                            max(h, round(photo.shape[0] * scale)))))
        y, x = rng.integers(0, resized.shape[0] - h + 1), rng.integers(0, resized.shape[1] - w + 1)
        out = resized[y : y + h, x : x + w].astype(np.float32)
        if rng.random() < 0.5:
            out = out[:, ::-1]
        out = out * rng.uniform(0.7, 1.3, 3) + rng.uniform(-30, 30)
    elif kind < 0.75:
        yy, xx = np.mgrid[:h, :w] / max(h, w)
        angle = rng.uniform(0, np.pi)
        t = (np.cos(angle) * xx + np.sin(angle) * yy)[..., None]
        out = rng.uniform(0, 255, 3) * (1 - t) + rng.uniform(0, 255, 3) * t
    elif kind < 0.9:
        noise = rng.normal(size=(max(2, h // 16), max(2, w // 16), 3)).astype(np.float32)
        noise = np.stack([np.asarray(Image.fromarray(noise[..., c], mode="F").resize((w, h), Image.Resampling.BICUBIC))
                          for c in range(3)], -1)
        out = rng.uniform(40, 215, 3) + noise * rng.uniform(10, 60)
    else:
        period = rng.uniform(6, 40)
        yy, xx = np.mgrid[:h, :w]
        angle = rng.uniform(0, np.pi)
        t = ((np.cos(angle) * xx + np.sin(angle) * yy) // period % 2)[..., None]
        out = rng.uniform(0, 255, 3) * (1 - t) + rng.uniform(0, 255, 3) * t
    return np.clip(out, 0, 255).astype(np.uint8)


def _place(rng: np.random.Generator, rgba: np.ndarray, size: tuple[int, int], scale_range: tuple[float, float]):
    """Resize a cut-out so its longest side is a random fraction of the image's shorter side, optionally mirror it,
    and place it at a random position (at least half of it inside). Returns (H, W, 3) colour and (H, W) alpha."""
    h, w = size
    side = rng.uniform(*scale_range) * min(h, w)
    scale = side / max(rgba.shape[:2])
    new = (max(4, round(rgba.shape[1] * scale)), max(4, round(rgba.shape[0] * scale)))
    obj = np.asarray(Image.fromarray(rgba).resize(new, Image.Resampling.BILINEAR)).astype(np.float32)
    if rng.random() < 0.5:
        obj = obj[:, ::-1]
    oh, ow = obj.shape[:2]
    y = int(rng.integers(-oh // 4, max(-oh // 4 + 1, h - oh + oh // 4)))
    x = int(rng.integers(-ow // 4, max(-ow // 4 + 1, w - ow + ow // 4)))
    colour = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    ys, xs = slice(max(y, 0), min(y + oh, h)), slice(max(x, 0), min(x + ow, w))
    crop = obj[ys.start - y : ys.stop - y, xs.start - x : xs.stop - x]
    colour[ys, xs] = crop[..., :3] * rng.uniform(0.85, 1.15)
    alpha[ys, xs] = crop[..., 3] / 255.0
    return colour, alpha


def make_composite(rng: np.random.Generator, objects: list[np.ndarray], photos: list[np.ndarray],
                   size: tuple[int, int] = (240, 320), max_distractors: int = 3,
                   target_scale: tuple[float, float] = TARGET_SCALE) -> Composite:
    """One composite: a background, the target object, then up to ``max_distractors`` other objects on top.
    Retries until the target keeps a visible area of at least 0.5% of the image."""
    while True:
        image = random_background(rng, size, photos).astype(np.float32)
        for _ in range(int(rng.integers(0, 3))):  # clutter behind the target
            colour, alpha = _place(rng, objects[rng.integers(len(objects))], size, (0.3, 0.9))
            image = image * (1 - alpha[..., None]) + colour * alpha[..., None]
        colour, visible = _place(rng, objects[rng.integers(len(objects))], size, target_scale)
        image = image * (1 - visible[..., None]) + colour * visible[..., None]
        for _ in range(int(rng.integers(0, max_distractors + 1))):
            colour, alpha = _place(rng, objects[rng.integers(len(objects))], size, (0.15, 0.6))
            image = image * (1 - alpha[..., None]) + colour * alpha[..., None]
            visible = visible * (1 - alpha)
        mask = visible > 0.5
        if mask.mean() >= 0.005:
            return Composite(image=np.clip(image, 0, 255).astype(np.uint8), mask=mask)


def composite_set(data_dir: Path, split: str, count: int, seed: int, size: tuple[int, int] = (240, 320),
                  target_scale: tuple[float, float] = TARGET_SCALE) -> list[Composite]:
    """``count`` reproducible composites of one split's objects."""
    rng = np.random.default_rng(seed)
    objects, photos = load_cutouts(data_dir, split), background_photos()
    return [make_composite(rng, objects, photos, size, target_scale=target_scale) for _ in range(count)]
