"""The object-aware generator: the :class:`~sounding.engine.AudioGenerator` the server runs.

One call to :meth:`ObjectAwareGenerator.generate` encodes every request, substitutes the masks, and denoises all
requests and all their variations as one batch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Hashable, Sequence

import numpy as np
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from sounding_protocol.constants import LAYER_SEPARATOR
from torch import nn

from sounding.audio.loudness import normalise_loudness
from sounding.engine import (
    GenerationOutput, GenerationRequest, LayerOutput, ModelInfo, ProgressFn, Recognition, class_index,
)
from sounding.model.clip_ranker import ClipRanker
from sounding.model.conditioner import ObjectAwareConditioner
from sounding.model.config import ModelConfig
from sounding.model.encoders import ImageEncoder, TextEncoder
from sounding.model.masking import mask_to_grid, substitute
from sounding.model.object_prior import ObjectPrior
from sounding.model.region_crop import crop_to_region
from sounding.model.sampler import frame_multiple, latent_frames, latent_shape, make_scheduler, sample_log_mel, vocode

#: How many of the object prior's nearest classes a result reports (the first is the one the prior used).
RECOGNISED_CLASSES = 3


@dataclass
class Condition:
    """What the conditioner produced for a batch: the UNet condition and the patch weights it used."""

    condition: torch.Tensor  # (B, condition_dim)
    weights: torch.Tensor  # (B, heads, N)
    #: The image features of the selected object (B, image_dim): the patches averaged over the clicked region, or
    #: weighted by the text's attention without one; what the object prior recognises.
    features: torch.Tensor
    #: The image backbone's ImageNet probabilities of ``features`` (B, 1000), where the object prior uses them.
    imagenet: torch.Tensor | None = None
    #: The object prior's similarity of ``features`` to each of its classes (B, classes), where there is a prior.
    similarities: torch.Tensor | None = None


class ObjectAwareGenerator(nn.Module):
    """Encoders + conditioner (+ object prior) + UNet + VAE (+ clip ranker) + vocoder, and the scheduler config they
    were trained with."""

    def __init__(self, config: ModelConfig, image_encoder: ImageEncoder, text_encoder: TextEncoder,
                 conditioner: ObjectAwareConditioner, unet: UNet2DConditionModel, vae: AutoencoderKL,
                 vocoder: nn.Module, scheduler_config: dict, object_prior: ObjectPrior | None = None,
                 clip_ranker: ClipRanker | None = None):
        super().__init__()
        self.config = config
        self.image_encoder, self.text_encoder, self.conditioner = image_encoder, text_encoder, conditioner
        if object_prior is not None:
            sizes = (object_prior.config.image_dim, object_prior.config.condition_dim)
            expected = (image_encoder.feature_dim, conditioner.config.condition_dim)
            if sizes != expected:
                raise ValueError(f"the object prior was fitted for image features and conditions of sizes {sizes}, "
                                 f"this model has {expected}: refit it (`sounding fit-prior`)")
            if object_prior.uses_imagenet and not image_encoder.has_imagenet_classifier:
                raise ValueError("the object prior recognises by ImageNet categories, but this model's image encoder "
                                 "has no ImageNet classifier: refit it (`sounding fit-prior`)")
        if clip_ranker is not None and clip_ranker.config.n_mels != config.mel.n_mels:
            raise ValueError(f"the clip ranker reads log-mels of {clip_ranker.config.n_mels} bins, this model makes "
                             f"{config.mel.n_mels}: refit it (`sounding fit-ranker`)")
        self.object_prior, self.clip_ranker = object_prior, clip_ranker
        self.unet, self.vae, self.vocoder = unet, vae, vocoder
        # diffusers' private keys (``_use_default_values``...) would make a fresh model and its reloaded copy pick
        # different defaults for another scheduler class: keep only the explicit values.
        self.scheduler_config = {k: v for k, v in scheduler_config.items() if not k.startswith("_")}
        self.eval()

    @property
    def info(self) -> ModelInfo:
        """Read on each use: the classes follow the object prior, which a fit may set after loading."""
        config = self.config
        return ModelInfo(name=config.name, sample_rate=config.mel.sample_rate, max_duration=config.max_duration,
                         default_duration=config.default_duration, default_steps=config.default_steps,
                         default_guidance=config.default_guidance,
                         classes=tuple(self.object_prior.config.labels) if self.object_prior is not None else ())

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def hop_seconds(self) -> float:
        return self.config.mel.hop_length / self.config.mel.sample_rate

    @property
    def candidates(self) -> int:
        """Clips made per clip kept: the clip ranker's count where there is one to rank by the object prior's class."""
        return (self.clip_ranker.config.candidates if self.clip_ranker is not None and self.object_prior is not None
                else 1)

    def frames(self, duration: float) -> int:
        return latent_frames(duration, self.hop_seconds, frame_multiple(self.unet, self.vae))

    def batch_key(self, request: GenerationRequest) -> Hashable:
        return self.frames(request.duration), request.steps, float(request.guidance)

    @torch.no_grad()
    def condition(self, images: Sequence[np.ndarray], texts: Sequence[str | None],
                  regions: Sequence[np.ndarray | None], object_prior: bool = True,
                  sounds_like: Sequence[str | None] | None = None) -> Condition:
        """Per sample: mask mode (region, no text), mask+text (region and text) or text attention (text only).
        With ``config.region_crop`` a sample with a region is encoded cut to the region's box, and its weights
        lie on that crop's patch grid. With an object prior the condition is moved toward the typical condition of the
        recognised class, or of the class a sample's ``sounds_like`` names; ``object_prior=False`` keeps the
        conditioner's own condition (what a prior is fitted on)."""
        chosen = self._chosen_classes(sounds_like, len(images)) if object_prior else None
        images, regions = list(images), list(regions)
        for i, region in enumerate(regions):
            if region is None:
                if texts[i] is None:
                    raise ValueError("a request needs a region (selected objects) or a text hint")
            elif region.shape != images[i].shape[:2]:
                raise ValueError(f"region {region.shape} and image {images[i].shape[:2]} differ in size")
            elif self.config.region_crop is not None:
                images[i], regions[i] = crop_to_region(images[i], region, self.config.region_crop)
        patches = self.image_encoder(self.image_encoder.preprocess(images))
        has_text = [t is not None for t in texts]
        heads = self.conditioner.config.num_heads
        weights = torch.empty(len(images), heads, patches.shape[1], device=patches.device)
        pooling = torch.empty(len(images), patches.shape[1], device=patches.device)  # sums to 1 per sample
        if any(has_text):
            index = torch.tensor([i for i, h in enumerate(has_text) if h], device=patches.device)
            query = self.text_encoder([t for t in texts if t is not None])
            weights[index] = self.conditioner.attention(patches[index], query)
            pooling[index] = weights[index].mean(1)
        for i, region in enumerate(regions):
            if region is None:
                continue
            grid = torch.from_numpy(mask_to_grid(region, self.image_encoder.grid_size)).to(patches.device)
            pooling[i] = grid * pooling[i] if has_text[i] else grid
            pooling[i] /= pooling[i].sum().clamp(min=1e-12)
            if has_text[i]:  # mask + text: the text's attention restricted to the region, at its own spread
                std = weights[i].std(dim=-1, unbiased=False)
                weights[i] = substitute(grid * weights[i], std)
            else:
                weights[i] = substitute(grid.expand(heads, -1), self.conditioner.mask_spread())
        condition = self.conditioner.pool(patches, weights)
        features = (pooling.unsqueeze(1) @ patches)[:, 0]
        imagenet = similarities = None
        if self.object_prior is not None:
            if self.object_prior.uses_imagenet:
                imagenet = self.image_encoder.imagenet_probabilities(features)
            similarities = self.object_prior.similarities(features.float(), imagenet)
            if object_prior:
                condition = self.object_prior(condition, similarities, chosen)
        return Condition(condition, weights, features, imagenet, similarities)

    def _chosen_classes(self, sounds_like: Sequence[str | None] | None, count: int) -> torch.Tensor | None:
        """The prior's index of each sample's ``sounds_like`` class (-1: recognise); errors before any encoding."""
        if sounds_like is None or all(label is None for label in sounds_like):
            return None
        if len(sounds_like) != count:
            raise ValueError(f"{len(sounds_like)} sounds_like entries for {count} images")
        if self.object_prior is None:
            raise ValueError(f"the model {self.config.name!r} has no object prior, so it knows no classes to sound "
                             "like: leave sounds_like out")
        labels = self.object_prior.config.labels
        return torch.tensor([-1 if label is None else class_index(label, labels) for label in sounds_like],
                            device=self.device)

    def _made_as(self, sounds_like: str | None, recognised: list[Recognition]) -> str | None:
        """The class the prior moved a request's condition toward, spelt as the prior spells it."""
        if sounds_like is not None:
            return self.object_prior.config.labels[class_index(sounds_like, self.object_prior.config.labels)]
        return recognised[0].label if recognised else None

    def recognised(self, encoded: Condition) -> list[list[Recognition]]:
        """Per sample: the object prior's ``RECOGNISED_CLASSES`` most similar classes, best first (none without a
        prior)."""
        similarity = encoded.similarities
        if similarity is None:
            return [[] for _ in range(len(encoded.features))]
        top = similarity.topk(min(RECOGNISED_CLASSES, similarity.shape[1]), dim=-1)
        labels = self.object_prior.config.labels
        return [[Recognition(labels[k], round(float(v), 4)) for v, k in zip(values.tolist(), indices.tolist())]
                for values, indices in zip(top.values, top.indices)]

    def generate(self, requests: Sequence[GenerationRequest], progress: ProgressFn) -> list[GenerationOutput]:
        """A request of several ``objects`` under the object prior (and no ``sounds_like``) is made one object at a
        time, each as its own ``sounds_like`` if it has one, in one batch with the rest; its layers are mixed at
        equal loudness (docs/method.md, "Several objects")."""
        layers = [self._layers(r) for r in requests]
        made = self._generate([layer for request_layers in layers for layer in request_layers], progress)
        results, start = [], 0
        for request, request_layers in zip(requests, layers):
            own, start = made[start:start + len(request_layers)], start + len(request_layers)
            results.append(own[0] if len(own) == 1 else self._mix(request, own))
        return results

    def _layers(self, request: GenerationRequest) -> list[GenerationRequest]:
        if self.object_prior is None or request.sounds_like is not None or len(request.objects) < 2:
            return [request]
        return [replace(request, region=layer.region, sounds_like=layer.sounds_like, objects=())
                for layer in request.objects]

    def _mix(self, request: GenerationRequest, layers: list[GenerationOutput]) -> GenerationOutput:
        """Each variation: the mean of its layers at one loudness; recognised: each layer's class, in the objects'
        order; made as the layers' classes joined by " + "; unsure when any layer is; and each layer's own, with
        its part of each variation's mix (the parts sum to it)."""
        rate = self.config.mel.sample_rate
        parts = [[normalise_loudness(clip, rate) / len(layers) for clip in layer.clips] for layer in layers]
        clips = [np.sum([part[i] for part in parts], axis=0).astype(np.float32) for i in range(len(parts[0]))]
        made = [LayerOutput(layer.recognised, layer.sounds_like, layer.unsure, obj.index, part)
                for obj, layer, part in zip(request.objects, layers, parts)]
        return GenerationOutput(clips, [layer.recognised[0] for layer in layers],
                                LAYER_SEPARATOR.join(layer.sounds_like for layer in layers),
                                any(layer.unsure for layer in layers), made)

    def _generate(self, requests: Sequence[GenerationRequest], progress: ProgressFn) -> list[GenerationOutput]:
        keys = {self.batch_key(r) for r in requests}
        if len(keys) != 1:
            raise ValueError(f"requests of one batch must share duration frames, steps and guidance; got {keys}")
        frames, steps, guidance = keys.pop()
        # 1. Encode each request once; its variations repeat the condition.
        progress("encode", 0, 1)
        encoded = self.condition([r.image for r in requests], [r.text for r in requests],
                                 [r.region for r in requests], sounds_like=[r.sounds_like for r in requests])
        recognised = self.recognised(encoded)
        candidates = self.candidates
        repeats = torch.tensor([r.variations * candidates for r in requests], device=self.device)
        condition = encoded.condition.repeat_interleave(repeats, dim=0)
        progress("encode", 1, 1)
        # 2. Initial noise: variation i of a request uses seed + i, drawn on the CPU so devices agree. Its candidates
        #    are successive draws from that seed, so the first one is the noise of a model without a ranker.
        seeds = [r.seed + i for r in requests for i in range(r.variations)]
        shape = latent_shape(1, frames, self.config.mel.n_mels, self.unet, self.vae)[1:]
        draws = [torch.Generator().manual_seed(s) for s in seeds]
        latents = torch.stack([torch.randn(shape, generator=draw) for draw in draws for _ in range(candidates)])
        # 3. Denoise and decode every candidate.
        log_mel = sample_log_mel(self.unet, make_scheduler(self.config.sampler, self.scheduler_config), self.vae,
                                 condition, self.conditioner.unconditional(len(latents)),
                                 latents.to(self.device, self.unet.dtype), steps, guidance, progress)
        # 4. Keep each variation's candidate that the ranker hears as the class its condition was moved toward.
        if candidates > 1:
            targets = [self._made_as(r.sounds_like, found) for r, found in zip(requests, recognised)
                       for _ in range(r.variations)]
            picks = self.clip_ranker.choose(log_mel, targets)
            log_mel = log_mel[torch.tensor([i * candidates + pick for i, pick in enumerate(picks)])]
        # 5. Vocode the kept clips.
        waveform = vocode(self.vocoder, log_mel, progress)
        # 6. Crop each clip to its duration; split per request, with what the object prior recognised.
        audio = waveform.clamp(-1.0, 1.0).cpu().numpy()
        results, start = [], 0
        for r, found in zip(requests, recognised):
            samples = int(round(r.duration * self.config.mel.sample_rate))
            unsure = r.sounds_like is None and bool(found) and self.object_prior.unsure(found[0].similarity)
            results.append(GenerationOutput([audio[start + i, :samples].copy() for i in range(r.variations)],
                                            found, self._made_as(r.sounds_like, found), unsure))
            start += r.variations
        return results
