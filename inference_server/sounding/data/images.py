"""Cut-out object pictures: where they live, which ones picture a class, and how an RGBA cut-out is obtained."""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from sounding.data.classes import CLASSES
from sounding.data.reserved import is_reserved

#: Installed image roots named in :data:`sounding.data.classes.CLASSES`, with their licences; the Sweet Home 3D
#: root is extracted into the build's cache by :func:`extract_sweethome3d_icons`.
IMAGE_ROOTS = {
    "tuxpaint": (Path("/usr/share/tuxpaint/stamps"), "GPL-2+"),
    "openclipart": (Path("/usr/share/openclipart/png"), "public domain"),
}
IMAGE_PACKAGES = ("tuxpaint-stamps-default", "openclipart-png", "sweethome3d-furniture")
SWEETHOME3D_DIR = Path("/usr/share/sweethome3d/furniture")
#: Furniture pack -> licence (from the package's debian/copyright). Each model's catalogue icon is a 128 px RGBA
#: render of the model by its author.
SWEETHOME3D_LICENCES = {
    "BlendSwap-CC-0": "CC0-1.0", "BlendSwap-CC-BY": "CC-BY-3.0", "KatorLegaz": "CC-BY-3.0-US", "Scopia": "CC-BY-3.0",
}
#: Longest side of a stored cut-out (scenes are composed from these).
CUTOUT_SIZE = 256
#: Pixels further than this from the corner colour count as object in pictures without transparency.
_BACKGROUND_DISTANCE = 40


def extract_sweethome3d_icons(cache_dir: Path) -> Path:
    """Unpack the catalogue icons (top-level PNGs of each ``.sh3f`` zip) into ``cache_dir/<pack>/``; cached."""
    for pack in SWEETHOME3D_LICENCES:
        archive = SWEETHOME3D_DIR / f"{pack}.sh3f"
        target = cache_dir / pack
        if target.is_dir() or not archive.exists():
            continue
        partial = cache_dir / f"{pack}.partial"
        with zipfile.ZipFile(archive) as bundle:
            for name in bundle.namelist():
                if name.count("/") == 1 and name.endswith(".png"):
                    (partial / Path(name).name).parent.mkdir(parents=True, exist_ok=True)
                    (partial / Path(name).name).write_bytes(bundle.read(name))
        partial.rename(target)
    return cache_dir


def image_roots(sweethome3d_cache: Path) -> dict[str, tuple[Path, str]]:
    return {**IMAGE_ROOTS, "sweethome3d": (sweethome3d_cache, "")}


def image_licence(root_name: str, path: Path) -> str:
    if root_name == "sweethome3d":
        return SWEETHOME3D_LICENCES[path.parent.name]
    if root_name == "render":  # <render dir>/<pack>/<model>/view<k>.png
        return SWEETHOME3D_LICENCES[path.parent.parent.name]
    return IMAGE_ROOTS[root_name][1]


def image_group(root_name: str, relative_path: Path) -> str:
    """The unit a picture is split by (the views of one rendered model stay together); relative to its root, so
    splits do not depend on where the dataset is built."""
    return f"{root_name}:{relative_path.parent if root_name == 'render' else relative_path}"


def class_image_pool(label: str, roots: dict[str, tuple[Path, str]]) -> list[tuple[str, Path]]:
    """(image root name, path) for every picture of ``label`` that is installed, in a stable order."""
    return image_pool(CLASSES[label].images, roots)


def image_pool(entries: tuple[str, ...], roots: dict[str, tuple[Path, str]]) -> list[tuple[str, Path]]:
    """(image root name, path) for every installed picture that ``"root:glob"`` entries match, in a stable order."""
    pool: list[tuple[str, Path]] = []
    for entry in entries:
        root_name, pattern = entry.split(":", 1)
        root, _ = roots[root_name]
        for path in sorted(root.glob(pattern)):
            if path.name.endswith(("_mirror.png", "_shadow.png")) or is_reserved(str(path)):
                continue
            if (root_name, path) not in pool:
                pool.append((root_name, path))
    return pool


def image_key(path: Path) -> str:
    return hashlib.sha1(str(path).encode()).hexdigest()[:12]


def to_cutout(image: Image.Image, size: int = CUTOUT_SIZE) -> Image.Image:
    """RGBA cut-out cropped to the object and scaled to fit ``size``. Pictures without transparency (clip art on a
    flat background) get an alpha channel from their distance to the corner colour."""
    rgba = image.convert("RGBA")
    pixels = np.asarray(rgba).copy()
    if pixels[..., 3].min() == 255:
        rgb = pixels[..., :3].astype(np.int32)
        corner = np.median(np.stack([rgb[0, 0], rgb[0, -1], rgb[-1, 0], rgb[-1, -1]]), axis=0)
        pixels[..., 3] = np.where(np.abs(rgb - corner).sum(axis=-1) > _BACKGROUND_DISTANCE, 255, 0)
    pixels[..., 3] = np.where(pixels[..., 3] >= 128, 255, 0)
    rows, cols = np.nonzero(pixels[..., 3])
    if len(rows) == 0:
        raise ValueError("picture has no object pixels")
    cropped = Image.fromarray(pixels[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1], "RGBA")
    cropped.thumbnail((size, size), Image.LANCZOS)
    # Resampling blurs alpha: keep the mask exact by binarising it again after scaling.
    alpha = np.asarray(cropped)[..., 3]
    cropped.putalpha(Image.fromarray(np.where(alpha >= 128, 255, 0).astype(np.uint8)))
    return cropped


def load_cutout(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return to_cutout(image)
