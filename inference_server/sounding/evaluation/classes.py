"""What a model makes of each class it knows, apart from recognising it: ``sounding eval classes``.

Each class of the model's object prior is asked for by name (``sounds_like``, on a grey picture selected whole), with
``seeds`` clips each. No picture of the dataset is involved, so this measures the rendering that ``sounding eval
generated`` mixes with the recognition. Per class:

- ``top1`` / ``top3``: the share of its clips the judge names as the class / holds among its three most probable;
- ``nearest_train``: per clip, the highest correlation of its log-mel with one of the class's train recordings, the
  median over the clips. The same for the class's real test recordings (``test_recordings_nearest_train``) tells
  how close a new recording of the class comes: clips much closer than that repeat the training sounds;
- ``between_seeds``: the median correlation between two of its clips (1: every seed gives the same sound).

Log-mels are compared as the dataset stores clips (``audio_prep.prepare``: trimmed, loudness-normalised), aligned at
their start, over ``COMPARE_SECONDS``, with everything below ``SILENCE_LOG_MEL`` counted as silence. Clips go to
``<out>/<class>/seed<n>.wav`` and the numbers to ``<out>/metrics.json``.
"""
from __future__ import annotations

import json
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
import torch

from sounding.audio.io import encode_audio, read_audio
from sounding.audio.mel import LogMel
from sounding.data import audio_prep
from sounding.data.build import MANIFEST_NAME
from sounding.data.manifest import read_manifest
from sounding.engine import GenerationRequest
from sounding.evaluation.generated import BATCH, METRICS_FILE, SEED
from sounding.evaluation.judge import TOP_K, Judge, holds_all
from sounding.model.config import MelConfig

#: Seconds of each clip's start that are compared.
COMPARE_SECONDS = 4.0
#: Log-mel values (natural log of power) below this count as silence, so that quiet tails do not decide.
SILENCE_LOG_MEL = -7.0
#: Side of the grey picture the classes are asked for on.
PICTURE_SIDE = 224


class Signatures:
    """Prepared audio -> a fixed-length log-mel vector, centred and unit-length, so that a dot product of two is
    their correlation."""

    def __init__(self):
        self.log_mel = LogMel(MelConfig())
        self.frames = int(COMPARE_SECONDS * audio_prep.SAMPLE_RATE / MelConfig().hop_length)

    @torch.inference_mode()
    def __call__(self, audio: np.ndarray, sample_rate: int) -> torch.Tensor | None:
        prepared = audio_prep.prepare(np.asarray(audio, np.float32), sample_rate)
        if prepared is None:
            return None
        mel = self.log_mel(torch.from_numpy(prepared)[None])[0][:self.frames].clamp(min=SILENCE_LOG_MEL)
        padded = torch.full((self.frames, mel.shape[1]), SILENCE_LOG_MEL)
        padded[:len(mel)] = mel
        vector = padded.flatten() - padded.mean()
        return vector / vector.norm().clamp(min=1e-12)


def _nearest(signature: torch.Tensor | None, references: torch.Tensor) -> float:
    """The highest correlation with any reference; 0 for a silent clip or no references."""
    if signature is None or not len(references):
        return 0.0
    return float((references @ signature).max())


def _recordings(data: Path, split: str, signatures: Signatures) -> dict[str, torch.Tensor]:
    """Per class, the signatures of a split's single-object recordings (one per audio file)."""
    per_class, seen = defaultdict(list), set()
    for row in read_manifest(data / MANIFEST_NAME):
        if row.split != split or row.scene_id or row.audio_path in seen:
            continue
        seen.add(row.audio_path)
        signature = signatures(read_audio(data / row.audio_path, audio_prep.SAMPLE_RATE), audio_prep.SAMPLE_RATE)
        if signature is not None:
            per_class[row.label].append(signature)
    return {label: torch.stack(rows) for label, rows in per_class.items()}


def evaluate_classes(model: str, data: Path, judge_dir: Path, out: Path, seeds: int = 4) -> dict:
    """Generate ``seeds`` clips per class of ``model``'s object prior and score them (module docstring)."""
    if seeds < 2:
        raise ValueError(f"seeds must be at least 2 (variety compares a class's clips), got {seeds}")
    data, out = Path(data), Path(out)
    if not (data / MANIFEST_NAME).exists():
        raise FileNotFoundError(f"{data / MANIFEST_NAME} not found: run `sounding data build --out {data}` first")
    from sounding.model.loading import load_generator

    generator, judge = load_generator(model), Judge.load(judge_dir)
    info = generator.info
    if not info.classes:
        raise ValueError(f"the model {model!r} has no object prior, so it knows no classes to ask for")
    signatures = Signatures()
    train, test = _recordings(data, "train", signatures), _recordings(data, "test", signatures)
    grey = np.full((PICTURE_SIDE, PICTURE_SIDE, 3), 128, np.uint8)
    whole = np.ones((PICTURE_SIDE, PICTURE_SIDE), bool)
    outputs = []
    for start in range(0, len(info.classes), BATCH):
        requests = [GenerationRequest(image=grey, region=whole, text=None, duration=info.default_duration, seed=SEED,
                                      steps=info.default_steps, guidance=info.default_guidance, variations=seeds,
                                      sounds_like=label) for label in info.classes[start:start + BATCH]]
        outputs += generator.generate(requests, lambda *_: None)
    per_class = {}
    for label, output in zip(info.classes, outputs):
        folder = out / label
        folder.mkdir(parents=True, exist_ok=True)
        scores, clip_signatures = [], []
        for n, clip in enumerate(output.clips):
            (folder / f"seed{n}.wav").write_bytes(encode_audio(clip, info.sample_rate))
            scores.append(judge.classify(clip, info.sample_rate))
            clip_signatures.append(signatures(clip, info.sample_rate))
        index = judge.labels.index(label) if label in judge.labels else None
        references = train.get(label, torch.empty(0))
        audible = [s for s in clip_signatures if s is not None]
        per_class[label] = {
            "top1": round(float(np.mean([index is not None and s.max() > 0 and int(s.argmax()) == index
                                         for s in scores])), 4),
            f"top{TOP_K}": round(float(np.mean([index is not None and holds_all(s, [index]) for s in scores])), 4),
            "nearest_train": round(float(np.median([_nearest(s, references) for s in clip_signatures])), 4),
            "between_seeds": round(float(np.median([float(a @ b) for a, b in combinations(audible, 2)])), 4)
            if len(audible) > 1 else None,
            "test_recordings_nearest_train": round(float(np.median([_nearest(s, references) for s in test[label]])),
                                                   4) if label in test else None,
        }
    metrics = {"model": info.name, "seeds": seeds, "classes": per_class, "summary": _summary(per_class)}
    out.mkdir(parents=True, exist_ok=True)
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _summary(per_class: dict[str, dict]) -> dict:
    """Means over the classes (each class counts once), and the classes the judge never named right."""
    def mean(key):
        values = [v[key] for v in per_class.values() if v[key] is not None]
        return round(float(np.mean(values)), 4) if values else None

    return {**{key: mean(key) for key in ("top1", f"top{TOP_K}", "nearest_train", "between_seeds",
                                          "test_recordings_nearest_train")},
            "never_named": [label for label, v in per_class.items() if v["top1"] == 0]}
