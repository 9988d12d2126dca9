"""The contract between the server (sockets, queue) and the models (segmentation, diffusion).

The server only ever talks to an :class:`Engine`; the engine turns each selected object into a mask (exact masks
pass through, clicks go to the segmenter) and hands their union, and each apart, to the audio generator. Everything
here is plain numpy so the server, the CLI and the tests share one path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Hashable, Protocol, Sequence

import numpy as np

#: progress(stage, step, total). Stages: segment, encode, denoise, decode, vocode (PROTOCOL.md).
#: A callback may raise :class:`GenerationCancelled` to stop the work between steps.
ProgressFn = Callable[[str, int, int], None]


class GenerationCancelled(Exception):
    """Raised from a progress callback to abandon a job between two steps."""


@dataclass
class ObjectPrompt:
    """One selected object: clicks (points + labels), an exact mask, and/or a text hint."""

    points: np.ndarray | None = None  # (N, 2) float x, y in pixels, origin top-left
    labels: np.ndarray | None = None  # (N,) int, 1 = on the object, 0 = not on it
    mask: np.ndarray | None = None  # (H, W) bool, exact mask (bypasses segmentation)
    text: str | None = None
    sounds_like: str | None = None  # the class this object alone sounds like (None: the one it is recognised as)


@dataclass
class ObjectMask:
    mask: np.ndarray  # (H, W) bool
    score: float  # segmenter's confidence; 1.0 for exact masks


@dataclass
class ObjectLayer:
    """One of several selected objects, made apart under an object prior: its region, the class asked for it (None:
    the one it is recognised as) and its place among the request's objects."""

    region: np.ndarray  # (H, W) bool
    sounds_like: str | None = None
    index: int = 0


def layers_of(regions: Sequence[np.ndarray]) -> tuple[ObjectLayer, ...]:
    """Regions as the objects of one request, each recognised (no class asked for); none for fewer than two."""
    return tuple(ObjectLayer(region, None, i) for i, region in enumerate(regions)) if len(regions) > 1 else ()


@dataclass
class GenerationRequest:
    """What the audio generator needs for one job (one image, one source region)."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    region: np.ndarray | None  # (H, W) bool union of the selected objects; None = text-attention mode
    text: str | None  # text hint (the objects' hints joined), or None
    duration: float  # seconds
    seed: int
    steps: int
    guidance: float
    variations: int = 1
    #: A class of the model's object prior to sound like, instead of the class it recognises (None: recognise).
    sounds_like: str | None = None
    #: Each selected object when several are selected (``region`` is their union). Under an object prior, and
    #: without ``sounds_like``, each object is made apart, as its own ``sounds_like`` if it has one, and the layers
    #: mixed (docs/method.md, "Several objects"); without a prior the union is the condition, as in the paper.
    objects: tuple[ObjectLayer, ...] = ()


@dataclass
class Recognition:
    """A class the model's object prior found the selected object nearest to (cosine of pooled image features)."""

    label: str
    similarity: float


@dataclass
class LayerOutput:
    """One object of a mix: what the prior recognised it as (best first), the class it was made as, whether that is
    a guess, its place among the request's objects, and its part of each variation's mix (the parts sum to it)."""

    recognised: list[Recognition]
    sounds_like: str
    unsure: bool
    index: int
    clips: list[np.ndarray] = field(default_factory=list)


@dataclass
class GenerationOutput:
    """One request's result: a clip per variation, what the object prior recognised (best first), and the class
    whose typical sound the clips were moved toward (the one asked for, else the recognised one). A model without a
    prior has neither. ``unsure``: a recognised class the clips were made as scored under the prior's
    ``unsure_below`` (the picture is unlike every class the model knows). ``layers``: each object of a mix of
    objects made apart (empty otherwise)."""

    clips: list[np.ndarray]
    recognised: list[Recognition] = field(default_factory=list)
    sounds_like: str | None = None
    unsure: bool = False
    layers: list[LayerOutput] = field(default_factory=list)


@dataclass
class ModelInfo:
    name: str
    sample_rate: int
    max_duration: float
    default_duration: float
    default_steps: int
    default_guidance: float = 2.0  # the paper's classifier-free guidance scale
    #: The classes the model's object prior knows (what ``sounds_like`` may name); empty without a prior.
    classes: tuple[str, ...] = ()


def class_index(label: str, classes: Sequence[str]) -> int:
    """The position of ``label`` among a model's ``classes``, case and surrounding spaces ignored; a ValueError
    naming the classes when it is none of them."""
    folded = [known.lower() for known in classes]
    if label.strip().lower() not in folded:
        raise ValueError(f"{label!r} is not one of the model's classes: {', '.join(classes)}")
    return folded.index(label.strip().lower())


class Segmenter(Protocol):
    """Click -> mask. Implementations cache the image embedding so a second click on one image is cheap."""

    def segment(self, image: np.ndarray, points: np.ndarray, labels: np.ndarray) -> ObjectMask: ...


class AudioGenerator(Protocol):
    """Object-aware image-to-audio generation (the paper's method)."""

    info: ModelInfo

    def batch_key(self, request: GenerationRequest) -> Hashable:
        """Requests with equal keys may run as one batch (same latent shape, steps, guidance)."""

    def generate(self, requests: Sequence[GenerationRequest], progress: ProgressFn) -> list[GenerationOutput]:
        """Per request: per variation, float32 mono audio in [-1, 1] at ``info.sample_rate``.

        Variation ``i`` of a request uses seed ``request.seed + i`` so that each one can be reproduced alone.
        """


@dataclass
class Engine:
    """A segmenter and an audio generator on one device: everything a server worker owns."""

    generator: AudioGenerator
    segmenter: Segmenter
    device: str = "cpu"

    @property
    def info(self) -> ModelInfo:
        return self.generator.info

    def segment(self, image: np.ndarray, objects: Sequence[ObjectPrompt]) -> list[ObjectMask]:
        """One mask per object: exact masks pass through, clicks go to the segmenter."""
        masks = []
        for obj in objects:
            if obj.mask is not None:
                masks.append(ObjectMask(mask=obj.mask.astype(bool), score=1.0))
            elif obj.points is not None and len(obj.points):
                labels = obj.labels if obj.labels is not None else np.ones(len(obj.points), np.int64)
                masks.append(self.segmenter.segment(image, np.asarray(obj.points, np.float32), labels))
            else:
                masks.append(ObjectMask(mask=np.zeros(image.shape[:2], bool), score=0.0))
        return masks

    @staticmethod
    def _selected(objects: Sequence[ObjectPrompt], masks: Sequence[ObjectMask]) -> list[np.ndarray]:
        """The masks of the objects selected by clicks or a mask (not by text alone)."""
        return [m.mask for o, m in zip(objects, masks) if o.mask is not None or o.points is not None]

    @staticmethod
    def region(objects: Sequence[ObjectPrompt], masks: Sequence[ObjectMask]) -> np.ndarray | None:
        """Union of the selected objects' masks (the paper's multi-object selection); None when only text was given."""
        selected = Engine._selected(objects, masks)
        if not selected:
            return None
        return np.logical_or.reduce(selected)

    @staticmethod
    def object_layers(objects: Sequence[ObjectPrompt], masks: Sequence[ObjectMask]) -> tuple[ObjectLayer, ...]:
        """Each object selected by clicks or a mask, with the class asked for it, in the request's order. An empty
        mask (a click the segmenter found nothing under) is left out: it has no sound of its own, and the union
        keeps it."""
        return tuple(ObjectLayer(m.mask, o.sounds_like, i) for i, (o, m) in enumerate(zip(objects, masks))
                     if (o.mask is not None or o.points is not None) and m.mask.any())

    @staticmethod
    def text_hint(objects: Sequence[ObjectPrompt]) -> str | None:
        hints = [o.text.strip() for o in objects if o.text and o.text.strip()]
        return ", ".join(hints) if hints else None
