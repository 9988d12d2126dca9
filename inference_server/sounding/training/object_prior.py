"""Fits a model's object prior (:class:`sounding.model.object_prior.ObjectPrior`) on labelled training rows.

Only single-object rows count: a scene's cut-outs on their composited backgrounds made the class means worse at
recognising single objects and scene objects alike (docs/method.md, "The object prior").
"""
from __future__ import annotations

import numpy as np
import torch

from sounding.data.classes import IMAGENET_CATEGORIES
from sounding.model.generator import ObjectAwareGenerator
from sounding.model.object_prior import ObjectPrior, check_strength
from sounding.training.config import OBJECT_PRIOR_IMAGENET_WEIGHT, OBJECT_PRIOR_UNSURE_BELOW
from sounding.training.data import CHUNK, Row, load_image, load_masks

#: A prior needs at least this many classes to tell objects apart.
MIN_CLASSES = 2


def prior_rows(rows: list[Row]) -> list[Row]:
    """The rows a prior is fitted on: single objects (no scene) with a class label; an error when too few classes."""
    chosen = [row for row in rows if row.label and not row.scene_id and len(row.masks) <= 1]
    classes = {row.label for row in chosen}
    if len(classes) < MIN_CLASSES:
        raise ValueError(f"an object prior needs labelled single-object rows of at least {MIN_CLASSES} classes "
                         f"(a manifest 'label' column); got {len(chosen)} rows of {len(classes)} class(es)")
    return chosen


@torch.no_grad()
def fit_object_prior(generator: ObjectAwareGenerator, rows: list[Row], strength: float,
                     imagenet_weight: float = OBJECT_PRIOR_IMAGENET_WEIGHT,
                     unsure_below: float = OBJECT_PRIOR_UNSURE_BELOW) -> ObjectPrior:
    """Per class, the mean of the rows' pooled features and their typical condition (:func:`clicked_rows`). With an
    image encoder that has an ImageNet classifier, the classes of :data:`~sounding.data.classes.IMAGENET_CATEGORIES`
    are also recognised by it, at ``imagenet_weight``. A best score under ``unsure_below`` is reported as unsure."""
    check_strength(strength)  # before the encoding, not after it
    if imagenet_weight < 0 or unsure_below < 0:
        raise ValueError(f"imagenet_weight and unsure_below must not be negative, got {imagenet_weight} and "
                         f"{unsure_below}")
    rows = prior_rows(rows)
    features, conditions = clicked_rows(generator, rows)
    prior = ObjectPrior.fit([row.label for row in rows], features, conditions, strength,
                            imagenet_categories(generator), imagenet_weight, unsure_below)
    return prior.to(generator.device)


@torch.no_grad()
def clicked_rows(generator: ObjectAwareGenerator, rows: list[Row]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row clicked as at test time (its mask, or the whole picture without one): its pooled image features
    (R, image_dim) and the conditioner's own condition (R, condition_dim), on the CPU."""
    features, conditions = [], []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        images = [load_image(row.image) for row in chunk]
        regions = [load_masks(row.masks) if row.masks else np.ones(image.shape[:2], bool)
                   for row, image in zip(chunk, images)]
        encoded = generator.condition(images, [None] * len(chunk), regions, object_prior=False)
        features.append(encoded.features.cpu())
        conditions.append(encoded.condition.cpu())
    return torch.cat(features), torch.cat(conditions)


def imagenet_categories(generator: ObjectAwareGenerator) -> dict[str, tuple[int, ...]] | None:
    """The classes' ImageNet categories where the model's image encoder has an ImageNet classifier, else None."""
    return IMAGENET_CATEGORIES if generator.image_encoder.has_imagenet_classifier else None
