"""The object prior (not in the paper): the condition moved toward the typical condition of the class that the
selected object looks like.

An unseen picture's condition says less about its class than the image features it pools do: on foley-mini's test
rows the nearest class mean names the class for 67 % of the rows from the pooled features but for 47 % from the
conditions, while the UNet renders a class's typical training condition as a sound that the judge names far more
often (docs/method.md, "The object prior"). So the prior recognises the attended object by the cosine of its pooled
image features with each class's mean feature, plus what an ImageNet classifier says of them (below), and
interpolates the condition toward that class's typical condition:

    k = argmax_k cos(f, F_k) + w P_k(f)  f: the image features pooled by the condition's weights
    c <- normalize((1 - s) c + s C_k)    C_k: class k's typical condition, s: ``strength`` (0: the paper's c)

P_k is the probability that the image backbone's own ImageNet classifier gives the categories picturing class k
(``imagenet_categories``; none without such a classifier), w the ``imagenet_weight``. The class means know only the
few training pictures of each class; the classifier knows a thousand kinds of real object, and with w = 0.5 the prior
names the class of 71 % of foley-mini's single test objects and 61 % of its scene objects, against 67 % and 50 %
from the means alone (docs/method.md, "What ImageNet knows").

C_k is the one training condition of class k nearest to the class's mean condition: a condition the UNet was trained
on, which it renders as the class more often than the mean itself (``sounding eval classes``: 76 % against 69 %).
Both tables come from a model's training rows (``sounding.training.object_prior``).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin


def category_probabilities(imagenet: torch.Tensor, categories: Sequence[Sequence[int]],
                           labels: Sequence[str]) -> torch.Tensor:
    """(B, C) ImageNet probabilities -> (B, classes): per class, the summed probability of its ``categories``."""
    membership = torch.zeros(len(labels), imagenet.shape[1], device=imagenet.device)
    for k, indices in enumerate(categories):
        outside = [i for i in indices if not 0 <= i < imagenet.shape[1]]
        if outside:
            raise ValueError(f"ImageNet category {outside[0]} of {labels[k]!r} is not one of the classifier's "
                             f"{imagenet.shape[1]} classes")
        membership[k, list(indices)] = 1.0
    return imagenet.float() @ membership.T


def check_strength(strength: float) -> None:
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"the object prior's strength must lie in [0, 1], got {strength}")


class ObjectPrior(ModelMixin, ConfigMixin):
    """Per class: the mean pooled image feature and the typical condition of its training rows (unit length each),
    and the ImageNet categories that picture it (in the config; an empty list for a class without any).

    ``unsure_below``: a best score (:meth:`similarities`) under it means the picture is unlike every class the prior
    knows, so the class it is moved to is a guess a person should hear about (0: never unsure)."""

    @register_to_config
    def __init__(self, labels: list[str], image_dim: int, condition_dim: int, strength: float = 1.0,
                 imagenet_categories: list[list[int]] | None = None, imagenet_weight: float = 0.0,
                 unsure_below: float = 0.0):
        super().__init__()
        if not labels or len(set(labels)) != len(labels):
            raise ValueError(f"the object prior needs distinct class labels, got {labels}")
        check_strength(strength)
        if imagenet_weight < 0:
            raise ValueError(f"the object prior's imagenet_weight must not be negative, got {imagenet_weight}")
        if unsure_below < 0:
            raise ValueError(f"the object prior's unsure_below must not be negative, got {unsure_below}")
        if imagenet_categories is not None and len(imagenet_categories) != len(labels):
            raise ValueError(f"{len(imagenet_categories)} lists of ImageNet categories for {len(labels)} classes")
        self.register_buffer("feature_means", torch.zeros(len(labels), image_dim))
        self.register_buffer("typical_conditions", torch.zeros(len(labels), condition_dim))

    @classmethod
    def fit(cls, labels: list[str], features: torch.Tensor, conditions: torch.Tensor, strength: float = 1.0,
            imagenet_categories: dict[str, Sequence[int]] | None = None, imagenet_weight: float = 0.0,
            unsure_below: float = 0.0) -> "ObjectPrior":
        """From rows: each row's class label, pooled image features (R, image_dim) and condition (R, condition_dim).
        ``imagenet_categories``: the ImageNet categories of each class that has some (None: recognise by the class
        means alone)."""
        if not len(labels) == len(features) == len(conditions):
            raise ValueError(f"{len(labels)} labels, {len(features)} features and {len(conditions)} conditions differ")
        classes = sorted(set(labels))
        categories = None if imagenet_categories is None else \
            [sorted(int(i) for i in imagenet_categories.get(label, ())) for label in classes]
        prior = cls(classes, features.shape[1], conditions.shape[1], strength, categories,
                    imagenet_weight if categories is not None else 0.0, unsure_below)
        index = torch.tensor([classes.index(label) for label in labels])
        for k in range(len(classes)):
            prior.feature_means[k] = F.normalize(F.normalize(features[index == k], dim=-1).mean(0), dim=0)
            members = F.normalize(conditions[index == k], dim=-1)
            prior.typical_conditions[k] = members[(members @ F.normalize(members.mean(0), dim=0)).argmax()]
        return prior

    def check_fitted(self, where: str) -> None:
        """An error unless both tables hold unit vectors: a prior saved under other table names (an older version)
        loads as zeros."""
        for name, table in (("feature_means", self.feature_means), ("typical_conditions", self.typical_conditions)):
            if not torch.allclose(table.norm(dim=-1), torch.ones(len(table)), atol=1e-3):
                raise ValueError(f"the object prior in {where} has no fitted {name} (saved by an older version?): "
                                 "refit it with `sounding fit-prior`")

    @property
    def uses_imagenet(self) -> bool:
        return self.config.imagenet_categories is not None and self.config.imagenet_weight > 0

    def similarities(self, features: torch.Tensor, imagenet: torch.Tensor | None = None) -> torch.Tensor:
        """(B, image_dim) pooled features -> (B, classes): cosine to each class's mean feature, plus
        ``imagenet_weight`` times the probability of the class's categories in ``imagenet`` (B, 1000), the
        backbone classifier's probabilities for the same features (required when the prior uses them)."""
        similarity = F.normalize(features, dim=-1) @ self.feature_means.T
        if not self.uses_imagenet:
            return similarity
        if imagenet is None:
            raise ValueError("this object prior also recognises by ImageNet categories: give the image encoder's "
                             "ImageNet probabilities of the features")
        scores = category_probabilities(imagenet, self.config.imagenet_categories, self.config.labels)
        return similarity + self.config.imagenet_weight * scores.to(similarity.dtype)

    def unsure(self, similarity: float) -> bool:
        """Whether a recognised class's score (:meth:`similarities`) is too low to trust."""
        return similarity < self.config.unsure_below

    def recognise(self, features: torch.Tensor, imagenet: torch.Tensor | None = None) -> torch.Tensor:
        """(B, image_dim) pooled features -> (B,) index of the most similar class (:meth:`similarities`)."""
        return self.similarities(features, imagenet).argmax(-1)

    def forward(self, condition: torch.Tensor, similarities: torch.Tensor,
                chosen: torch.Tensor | None = None) -> torch.Tensor:
        """``condition`` moved toward the typical condition of each sample's most similar class (``similarities``
        (B, classes), from :meth:`similarities`); ``chosen`` (B,): a class index per sample to use instead, or -1."""
        classes = similarities.argmax(-1)
        if chosen is not None:
            classes = torch.where(chosen >= 0, chosen.to(classes.device), classes)
        typical = self.typical_conditions[classes].to(condition.dtype)
        return F.normalize(torch.lerp(condition, typical, self.config.strength), dim=-1)
