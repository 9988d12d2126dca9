"""Augmented views of a training row's picture, encoded once into the feature cache (``TrainConfig.image_views``).

With a handful of pictures per class, the conditioner learns the pictures rather than what they show. Mirrored,
recoloured, rotated and differently framed views of each picture give its frozen features the spread an unseen
picture of the same object has (docs/method.md, "Augmented views"). Each view is what the encoder would see for a
click: the region crop (when the model has one) of the transformed picture, so the region's grey surround stays
grey and the view's mask grid follows the object.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageEnhance

from sounding.model.config import RegionCropConfig
from sounding.model.region_crop import crop_to_region
from sounding.training.config import ViewAugmentConfig

#: Grey that rotation fills the corners with when the region crop has no background of its own.
ROTATION_FILL = 128


def augmented_view(image: np.ndarray, region: np.ndarray | None, crop: RegionCropConfig | None,
                   config: ViewAugmentConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """One random view of ``image`` (H, W, 3 uint8) and its region (bool or None): mirrored with probability
    ``config.flip``; brightness, saturation and contrast scaled within ``config`` (before the region crop, so a grey
    surround stays the model's grey); cut by ``crop`` with its scale times a factor in ``config.crop_scale``; rotated
    by up to ``config.rotation_degrees``. The region moves with the picture."""
    if rng.random() < config.flip:
        image = image[:, ::-1]
        region = region[:, ::-1] if region is not None else None
    picture = Image.fromarray(np.ascontiguousarray(image))
    for enhance, (low, high) in ((ImageEnhance.Brightness, config.brightness), (ImageEnhance.Color, config.saturation),
                                 (ImageEnhance.Contrast, config.contrast)):
        picture = enhance(picture).enhance(rng.uniform(low, high))
    image = np.asarray(picture)
    if region is not None and crop is not None:
        scaled = dataclasses.replace(crop, scale=max(1.0, crop.scale * rng.uniform(*config.crop_scale)))
        image, region = crop_to_region(image, np.ascontiguousarray(region), scaled)
    angle = rng.uniform(-config.rotation_degrees, config.rotation_degrees)
    fill = ROTATION_FILL if crop is None or crop.background is None else crop.background
    image = np.asarray(Image.fromarray(np.ascontiguousarray(image)).rotate(angle, Image.BICUBIC,
                                                                           fillcolor=(fill,) * 3))
    if region is not None:
        rotated = Image.fromarray(np.ascontiguousarray(region).astype(np.uint8) * 255).rotate(angle, Image.NEAREST)
        turned = np.asarray(rotated) > 127
        region = turned if turned.any() else region
    return image, region
