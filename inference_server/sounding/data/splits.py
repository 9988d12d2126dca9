"""Split by recording, stratified by class: every variant, image pairing and scene built from one recording stays in
that recording's split, so no recording is heard in two splits.

Recordings come in *generations* (``SourceClip.generation``: the six original sources are generation 1, sources added
later a higher one). Each generation is split on its own by the same rule, because the rule depends on how many
recordings a class has: splitting all generations together would move old recordings between splits whenever a
class grows, and a generator trained on the old train split would then have heard new test audio."""
from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass


@dataclass
class SplitConfig:
    test_fraction: float = 0.2
    val_fraction: float = 0.15
    seed: str = "foley-mini-v1"


def stable_order(key: str, seed: str) -> str:
    """An order that is random-looking but the same on every machine and every run."""
    return hashlib.sha1(f"{seed}/{key}".encode()).hexdigest()


def split_counts(count: int, config: SplitConfig) -> tuple[int, int, int]:
    """(train, val, test) sizes for a class with ``count`` recordings; test gets one as soon as there are two, so the
    judge can be measured on every class that has a second recording; val only once the class has five."""
    if count < 2:
        return count, 0, 0
    test = max(1, round(config.test_fraction * count))
    val = max(1, round(config.val_fraction * count)) if count >= 5 else 0
    return count - test - val, val, test


def assign_splits(label_of_recording: dict[str, str], config: SplitConfig | None = None,
                  generation_of: dict[str, int] | None = None) -> dict[str, str]:
    """recording -> "train" | "val" | "test". ``generation_of`` (recording -> generation, default 1 for all) splits
    each generation separately, so adding a generation never changes an earlier generation's splits."""
    config = config or SplitConfig()
    generation_of = generation_of or {}
    by_label: dict[tuple[int, str], list[str]] = defaultdict(list)
    for recording, label in label_of_recording.items():
        by_label[generation_of.get(recording, 1), label].append(recording)
    split_of: dict[str, str] = {}
    for recordings in by_label.values():
        ordered = sorted(recordings, key=lambda recording: stable_order(recording, config.seed))
        train, val, _ = split_counts(len(ordered), config)
        for index, recording in enumerate(ordered):
            split_of[recording] = "train" if index < train else "val" if index < train + val else "test"
    return split_of
