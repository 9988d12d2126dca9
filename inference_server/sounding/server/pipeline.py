"""The work of one job, with no sockets: parsed request + Engine -> reply fields and blobs.

The worker thread runs these for the server; ``sounding generate``/``segment`` without ``--server`` runs them in
process, so both go through one path.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

import numpy as np
from sounding_protocol.constants import BAD_REQUEST, TOO_LARGE
from sounding_protocol.errors import ProtocolError
from sounding_protocol.validation import GenerateRequest, ObjectInput, SegmentRequest

from sounding.audio.io import encode_audio
from sounding.audio.loudness import loudness_gain
from sounding.engine import (
    Engine, GenerationRequest, ModelInfo, ObjectMask, ObjectPrompt, ProgressFn, Recognition, class_index,
)
from sounding.server.images import decode_image, decode_mask, encode_mask

#: (header fields, blobs) of a result; blob k of the header is ``blobs[k - 1]``.
ResultParts = tuple[dict[str, Any], list[bytes]]
#: Seeds the server picks when a request has none: short enough to read off the UI and type back in.
RANDOM_SEEDS = 2**31


@dataclass
class PreparedGeneration:
    """A generate job after decoding and segmentation, ready to join a batch."""

    request: GenerateRequest
    generation: GenerationRequest
    masks: list[ObjectMask]
    batch_key: Hashable


def object_prompts(objects: Sequence[ObjectInput], width: int, height: int) -> list[ObjectPrompt]:
    prompts = []
    for obj in objects:
        prompt = ObjectPrompt(text=obj.text, sounds_like=obj.sounds_like)
        if obj.points is not None:
            prompt.points = np.asarray(obj.points, np.float32)
            prompt.labels = np.asarray(obj.labels, np.int64)
        if obj.mask is not None:
            prompt.mask = decode_mask(obj.mask, width, height)
        prompts.append(prompt)
    return prompts


def segment_objects(engine: Engine, image: np.ndarray, prompts: Sequence[ObjectPrompt],
                    progress: ProgressFn) -> list[ObjectMask]:
    """One mask per object, reporting stage ``segment`` after each one (a cancelled job stops between objects)."""
    masks = []
    for i, prompt in enumerate(prompts):
        masks.extend(engine.segment(image, [prompt]))
        progress("segment", i + 1, len(prompts))
    return masks


def mask_parts(masks: Sequence[ObjectMask], first_blob: int) -> ResultParts:
    refs = [{"blob": first_blob + i, "format": "png", "score": float(m.score)} for i, m in enumerate(masks)]
    return {"masks": refs}, [encode_mask(m.mask) for m in masks]


def run_segment(engine: Engine, request: SegmentRequest, progress: ProgressFn) -> ResultParts:
    image = decode_image(request.image)
    prompts = object_prompts(request.objects, request.image.width, request.image.height)
    return mask_parts(segment_objects(engine, image, prompts, progress), first_blob=1)


def check_class(label: str, info: ModelInfo) -> None:
    """``bad_request`` unless ``label`` names one of the model's classes (case and surrounding spaces ignored)."""
    if not info.classes:
        raise ProtocolError(BAD_REQUEST, f"the model {info.name!r} recognises no classes (it has no object prior): "
                                         "leave 'sounds_like' out")
    try:
        class_index(label, info.classes)
    except ValueError as exc:
        raise ProtocolError(BAD_REQUEST, f"sounds_like: {exc}") from None


def prepare_generation(engine: Engine, request: GenerateRequest, progress: ProgressFn) -> PreparedGeneration:
    """Decode, segment, fill the model's defaults and check the duration against the model's limit."""
    info = engine.info
    duration = info.default_duration if request.duration is None else request.duration
    if duration > info.max_duration:
        raise ProtocolError(TOO_LARGE, f"duration {duration:g} s is above the model's maximum of "
                                       f"{info.max_duration:g} s")
    for label in [request.sounds_like, *(obj.sounds_like for obj in request.objects)]:
        if label is not None:
            check_class(label, info)
    image = decode_image(request.image)
    prompts = object_prompts(request.objects, request.image.width, request.image.height)
    masks = segment_objects(engine, image, prompts, progress)
    seed = secrets.randbelow(RANDOM_SEEDS) if request.seed is None else request.seed
    layers = Engine.object_layers(prompts, masks)
    sounds_like = request.sounds_like  # the parser refuses it beside objects' own classes
    if len(layers) == 1 and layers[0].sounds_like is not None:  # one object's own class is the request's
        sounds_like = layers[0].sounds_like
    generation = GenerationRequest(
        image=image, region=Engine.region(prompts, masks), text=Engine.text_hint(prompts), duration=duration,
        seed=seed, steps=info.default_steps if request.steps is None else request.steps,
        guidance=info.default_guidance if request.guidance is None else request.guidance,
        variations=request.variations, sounds_like=sounds_like, objects=layers if len(layers) > 1 else ())
    return PreparedGeneration(request, generation, masks, engine.generator.batch_key(generation))


def recognition_fields(recognised: Sequence[Recognition]) -> list[dict[str, Any]]:
    return [{"label": r.label, "similarity": r.similarity} for r in recognised]


def run_generation_batch(engine: Engine, batch: Sequence[PreparedGeneration],
                         progress: ProgressFn) -> list[ResultParts]:
    """One ``generate`` call for jobs with equal batch keys; one reply per job (audio blobs first, then masks, then
    each layer's own clips where the request asked for ``stems``)."""
    outputs = engine.generator.generate([p.generation for p in batch], progress)
    if len(outputs) != len(batch):
        raise RuntimeError(f"the generator returned {len(outputs)} results for {len(batch)} requests")
    sample_rate = engine.info.sample_rate
    replies = []
    for prepared, output in zip(batch, outputs):
        generation = prepared.generation
        if len(output.clips) != generation.variations:
            raise RuntimeError(f"the generator returned {len(output.clips)} clips for {generation.variations} "
                               "variations")
        fmt = prepared.request.format
        clips = [np.asarray(clip, np.float32).reshape(-1) for clip in output.clips]
        # Delivered at the dataset's loudness, so clips sit together in a mix (docs/protocol-extensions.md).
        gains = [loudness_gain(clip, sample_rate) for clip in clips]
        audio, blobs = audio_parts(clips, gains, generation.seed, sample_rate, fmt, first_blob=1)
        mask_fields, mask_blobs = mask_parts(prepared.masks, first_blob=len(blobs) + 1)
        blobs = blobs + mask_blobs
        layers = []
        for layer in output.layers:  # each object of a mix; its part after the masks, if asked for
            fields = {"object": layer.index, "recognised": recognition_fields(layer.recognised),
                      "sounds_like": layer.sounds_like, "unsure": layer.unsure}
            if prepared.request.stems:  # at the mix's gain, so that the stems sum to the delivered mix
                fields["audio"], stem_blobs = audio_parts(layer.clips, gains, generation.seed, sample_rate, fmt,
                                                          first_blob=len(blobs) + 1)
                blobs = blobs + stem_blobs
            layers.append(fields)
        replies.append(({"audio": audio, **mask_fields, "steps": generation.steps, "guidance": generation.guidance,
                         "recognised": recognition_fields(output.recognised), "sounds_like": output.sounds_like,
                         "unsure": output.unsure, "layers": layers}, blobs))
    return replies


def audio_parts(clips: Sequence[np.ndarray], gains: Sequence[float], seed: int, sample_rate: int, fmt: str,
                first_blob: int) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Variation i's clip (seed + i) times ``gains[i]`` as blob ``first_blob + i``; -> (header refs, blobs)."""
    clips = [(np.asarray(clip, np.float32).reshape(-1) * gain).astype(np.float32) for clip, gain in zip(clips, gains)]
    refs = [{"blob": first_blob + i, "format": fmt, "sample_rate": sample_rate, "duration": clip.size / sample_rate,
             "seed": seed + i} for i, clip in enumerate(clips)]
    return refs, [encode_audio(clip, sample_rate, fmt) for clip in clips]
