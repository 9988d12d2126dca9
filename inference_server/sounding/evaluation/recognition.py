"""How often a model's object prior names the class of a clicked object, by ImageNet weight: ``sounding eval
recognition``.

The recognition half of ACC, without generating audio (``sounding eval generated`` mixes it with the rendering).
Every labelled row of the manifest is clicked as at test time (its exact mask). Class means come from the train
split's single objects, as ``sounding fit-prior`` computes them, and each ``imagenet_weight`` is scored on:
- ``train_picture_left_out``: every train row against class means without the rows of its own picture, all views
  of a rendered model counting as one picture, so the many train pictures can choose the weight. A class with a
  single train picture cannot be named while that picture is left out;
- ``val`` and ``test``: rows against the means of all train single objects.
Single objects and scene objects are counted apart, each also as the share of rows whose class is among the
``RECOGNISED_CLASSES`` most similar (``single_top3``, ``scene_top3``): the classes a result offers a person to choose
from. ``unsure``: per threshold, the rows whose best score is under it (what a result would flag as unsure,
``ObjectPrior.unsure_below``) and how many of those are recognised wrong; ``suggested_unsure_below`` is the highest
threshold whose flags are mostly right on the train rows (``UNSURE_FLAGS_WRONG``), for ``sounding fit-prior
--unsure-below``. With an image encoder without an ImageNet classifier only weight 0 can be asked for.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from sounding.data.build import MANIFEST_NAME
from sounding.data.images import image_group
from sounding.data.manifest import ClipRow, read_manifest
from sounding.model.generator import RECOGNISED_CLASSES
from sounding.model.object_prior import ObjectPrior, category_probabilities
from sounding.training.data import Row
from sounding.training.config import UNSURE_FLAGS_WRONG
from sounding.training.object_prior import MIN_CLASSES, clicked_rows, imagenet_categories

SPLITS = ("train", "val", "test")


def _row(data: Path, row: ClipRow) -> Row:
    masks = (data / row.mask_path,) if row.mask_path else ()
    return Row(data / row.image_path, data / row.audio_path, row.caption, masks, row.label, row.scene_id)


def picture_of(row: ClipRow) -> str:
    """The picture a row shows (``root:path``; a rendered model's views are one picture)."""
    root, _, path = row.image_source.partition(":")
    return image_group(root, Path(path)) if path else row.image_path


def _shares(scores: torch.Tensor, truth: torch.Tensor, scene: torch.Tensor,
            unsure_below: Sequence[float]) -> dict[str, float | dict | None]:
    """Shares of rows whose class scores highest, and of rows whose class is among the classes a result offers;
    per threshold in ``unsure_below``, how many rows a result would flag as unsure and how many of those are
    recognised wrong."""
    top = scores.topk(min(RECOGNISED_CLASSES, scores.shape[1]), dim=-1)
    right = top.indices[:, 0] == truth
    found = {"": right, f"_top{RECOGNISED_CLASSES}": (top.indices == truth[:, None]).any(-1)}
    kinds = (("single", ~scene), ("scene", scene))

    def share(correct, chosen):
        return round(float(correct[chosen].float().mean()), 4) if bool(chosen.any()) else None

    shares: dict[str, float | dict | None] = {f"{kind}{suffix}": share(correct, chosen)
                                              for suffix, correct in found.items() for kind, chosen in kinds}
    flagged = {threshold: top.values[:, 0] < threshold for threshold in unsure_below}
    shares["unsure"] = {str(threshold): {kind: {"flagged": int((flag & chosen).sum()),
                                                "wrong": int((flag & chosen & ~right).sum())}
                                         for kind, chosen in kinds} for threshold, flag in flagged.items()}
    return shares


def _class_indices(rows: list[ClipRow], classes: list[str]) -> torch.Tensor:
    """Each row's index among ``classes``; -1 for a label no train single object has."""
    return torch.tensor([classes.index(row.label) if row.label in classes else -1 for row in rows])


def _cosines_without_own_picture(features: torch.Tensor, labels: torch.Tensor, single: torch.Tensor,
                                 pictures: list[str], classes: int) -> torch.Tensor:
    """(R, D) unit features of the train rows -> (R, classes): each row's cosine to class means of the single
    objects of all other pictures; -inf for a class that only its own picture shows."""
    sums = torch.zeros(classes, features.shape[1]).index_add_(0, labels[single], features[single])
    counts = torch.bincount(labels[single], minlength=classes)
    cosines = torch.empty(len(features), classes)
    for picture in sorted(set(pictures)):
        inside = torch.tensor([p == picture for p in pictures])
        own = inside & single
        without = F.normalize(sums - torch.zeros_like(sums).index_add_(0, labels[own], features[own]), dim=-1)
        cosines[inside] = features[inside] @ without.T
        gone = counts == torch.bincount(labels[own], minlength=classes)
        cosines[inside.nonzero()[:, 0][:, None], gone.nonzero()[:, 0][None]] = float("-inf")
    return cosines


def _suggested_threshold(unsure: dict[str, dict]) -> float | None:
    """The highest threshold whose flagged train single objects are recognised wrong at least
    ``UNSURE_FLAGS_WRONG`` of the time; None when no threshold flags any so."""
    single = {float(t): counts["single"] for t, counts in unsure.items()}
    return max((t for t, c in single.items() if c["flagged"] and c["wrong"] >= UNSURE_FLAGS_WRONG * c["flagged"]),
               default=None)


@torch.no_grad()
def evaluate_recognition(model: str, data: Path, weights: Sequence[float],
                         unsure_below: Sequence[float] = ()) -> dict:
    """Recognition shares per ImageNet weight, and what each ``unsure_below`` threshold flags (module docstring)."""
    data = Path(data)
    if not (data / MANIFEST_NAME).exists():
        raise FileNotFoundError(f"{data / MANIFEST_NAME} not found: run `sounding data build --out {data}` first")
    if not weights or any(w < 0 for w in weights):
        raise ValueError(f"give one or more ImageNet weights, none negative; got {list(weights)}")
    if any(t < 0 for t in unsure_below):
        raise ValueError(f"unsure thresholds must not be negative, got {list(unsure_below)}")
    from sounding.model.loading import load_generator

    generator = load_generator(model, fitted_parts=False)
    categories = imagenet_categories(generator)
    if categories is None and any(w > 0 for w in weights):
        raise ValueError(f"the model {model!r} has no ImageNet classifier: only weight 0 can be scored")
    labelled = [row for row in read_manifest(data / MANIFEST_NAME) if row.label]
    rows = {split: [row for row in labelled if row.split == split] for split in SPLITS}
    classes = sorted({row.label for row in rows["train"] if not row.scene_id})
    if len(classes) < MIN_CLASSES:
        raise ValueError(f"{data}: the train split has single objects of {len(classes)} class(es); a prior needs "
                         f"{MIN_CLASSES}")

    def imagenet(features: torch.Tensor) -> torch.Tensor:
        if categories is None:
            return torch.zeros(len(features), len(classes))
        probabilities = generator.image_encoder.imagenet_probabilities(features.to(generator.device)).cpu()
        return category_probabilities(probabilities, [categories.get(c, ()) for c in classes], classes)

    def encode(split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """A split's pooled features, their conditions, class indices and which rows are scene objects."""
        features, conditions = clicked_rows(generator, [_row(data, row) for row in rows[split]])
        return (features, conditions, _class_indices(rows[split], classes),
                torch.tensor([bool(row.scene_id) for row in rows[split]]))

    features, conditions, truth, scene = encode("train")
    pictures = [picture_of(row) for row in rows["train"]]
    unit = F.normalize(features.float(), dim=-1)
    scored = {  # name -> (cosines, ImageNet scores, true class indices, scene rows)
        "train_picture_left_out": (_cosines_without_own_picture(unit, truth, ~scene, pictures, len(classes)),
                                   imagenet(features), truth, scene)}
    means = ObjectPrior.fit([classes[k] for k in truth[~scene].tolist()], features[~scene], conditions[~scene])
    for split in ("val", "test"):
        if rows[split]:
            features, _, truth, scene = encode(split)
            scored[split] = (means.similarities(features.float()), imagenet(features), truth, scene)
    results = {str(weight): {name: _shares(cosines + weight * extra, truth, scene, unsure_below)
                             for name, (cosines, extra, truth, scene) in scored.items()} for weight in weights}
    for shares in results.values():
        shares["suggested_unsure_below"] = _suggested_threshold(shares["train_picture_left_out"]["unsure"])
    return {"model": generator.config.name, "classes": len(classes), "imagenet_classifier": categories is not None,
            "train_pictures": len(set(pictures)),
            "rows": {name: {"single": int((~scene).sum()), "scene": int(scene.sum())}
                     for name, (_, _, _, scene) in scored.items()},
            "weights": results}
