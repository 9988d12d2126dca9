"""ACC (the paper's accuracy metric): the share of generated clips that the judge assigns to the class of the object
that was clicked. Independent of the generator: it reads clips from disk, either

- a CSV with columns ``audio_path`` (relative to the CSV's folder, or absolute) and ``label``, or
- a folder laid out as ``<label>/<clip>.wav``.
"""
from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sounding.audio.io import decode_audio
from sounding.evaluation.judge import TOP_K, Judge

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


@dataclass
class AccResult:
    acc: float
    #: Share of clips whose target is among the judge's three most probable classes (the judge is weak: 32 % top-1).
    acc_top3: float
    clips: int
    class_acc: dict[str, float] = field(default_factory=dict)
    #: Mean probability the judge gives the target class (a softer companion of ACC).
    mean_target_probability: float = 0.0
    confusions: dict[str, int] = field(default_factory=dict)
    silent_clips: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def read_targets(clips: Path) -> list[tuple[Path, str]]:
    """(audio file, target label) pairs from a CSV manifest or a ``<label>/`` folder tree."""
    clips = Path(clips)
    if clips.is_file():
        with open(clips, newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"audio_path", "label"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{clips}: missing column(s) {', '.join(sorted(missing))}")
            return [(clips.parent / row["audio_path"], row["label"]) for row in reader]
    if clips.is_dir():
        return [(path, path.parent.name) for path in sorted(clips.glob("*/*")) if path.suffix in AUDIO_SUFFIXES]
    raise FileNotFoundError(f"{clips}: neither a CSV file nor a folder")


def check_targets(targets: list[tuple[Path, str]], judge: Judge) -> None:
    """Every target label must be one of the judge's classes, and there must be clips at all."""
    unknown = sorted({label for _, label in targets} - set(judge.labels))
    if unknown:
        raise ValueError(f"target labels the judge does not know: {', '.join(unknown)}")
    if not targets:
        raise ValueError("no clips to score")


def judge_clip(path: Path, label: str, judge: Judge) -> tuple[np.ndarray, int, bool]:
    """The judge's class probabilities for one clip, the target's index, and whether the top class is the target
    (a silent clip scores all zeros: it is wrong whatever its target)."""
    audio, rate = decode_audio(Path(path).read_bytes())
    scores = judge.classify(audio, rate)
    target = judge.labels.index(label)
    return scores, target, bool(scores.max() > 0 and np.argmax(scores) == target)


def acc_of(targets: list[tuple[Path, str]], judge: Judge) -> AccResult:
    check_targets(targets, judge)
    per_class = defaultdict(lambda: [0, 0])
    confusions, probabilities, silent, top3 = Counter(), [], 0, 0
    for path, label in targets:
        scores, target, correct = judge_clip(path, label, judge)
        silent += int(scores.max() == 0)
        top3 += bool(scores.max() > 0 and target in np.argsort(scores)[-TOP_K:])
        per_class[label][0] += correct
        per_class[label][1] += 1
        probabilities.append(float(scores[target]))
        if not correct:
            confusions[f"{label} -> {judge.labels[int(np.argmax(scores))] if scores.max() > 0 else 'silence'}"] += 1
    hits = sum(correct for correct, _ in per_class.values())
    return AccResult(
        acc=round(hits / len(targets), 4), acc_top3=round(top3 / len(targets), 4), clips=len(targets),
        class_acc={label: round(correct / count, 3) for label, (correct, count) in sorted(per_class.items())},
        mean_target_probability=round(float(np.mean(probabilities)), 4),
        confusions=dict(confusions.most_common(10)), silent_clips=silent,
    )


def evaluate_acc(clips: Path, judge_dir: Path) -> AccResult:
    return acc_of(read_targets(clips), Judge.load(judge_dir))
