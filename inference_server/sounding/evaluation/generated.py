"""Scores a generator on the Foley-Mini test split with the judge (the paper's ACC and its two-object tests); another
split (``split``: val, to choose a training's length without looking at the test rows) is scored alike.

- ``mask``: one clip per single-object row, the clicked region = the row's mask -> ACC (``acc.acc_of``).
- ``text``: the same rows in text-attention mode (no region; the row's caption as the query), ablation (iv).
- ``scenes``: two-object scenes. Clicking one object: the share of clips the judge names as that object's class and
  the share it names as the other object's class. Clicking both (the two masks, as a request of two objects: their
  union as the paper conditions on it, or each object made apart and mixed under an object prior): the share of
  clips with both classes among the judge's three most probable.

The clicked regions are the rows' exact masks (what the Blender add-on sends from a render's id map) unless a
segmenter is given: then each region is that segmenter's mask after ``clicks`` clicks placed by the standard protocol
(:func:`sounding.segmentation.clicks.next_click`) against the exact mask, as for a user clicking on an image, and
each mode's metrics also give the regions' mean IoU. For a model with an object prior they also give
``prior_recognised_class``: the share of labelled clips whose object the prior recognised as its class, and for
single objects the ACC of the rows its reply marks ``unsure`` and of the others (``unsure``).

Clips are written as ``<out>/<mode>/<row id>.wav`` with a ``<out>/<mode>.csv`` (audio_path, label) that
``sounding eval acc`` reads (for scenes: the one-click clips, labelled with the clicked class); the numbers go to
``<out>/metrics.json``. With several clip seeds (``seeds``), each seed's clips go to ``<out>/<mode>/seed<n>/``, so
that a row's clips share a file name and ``sounding eval paired`` can compare two generators row by row. The command
is ``sounding eval generated --model foley-mini --out runs/eval-foley-mini``.
"""
from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sounding.audio.io import encode_audio
from sounding.data.manifest import SPLITS
from sounding.engine import GenerationRequest, Segmenter, layers_of
from sounding.evaluation.acc import acc_of
from sounding.evaluation.judge import TOP_K, Judge, holds_all
from sounding.segmentation import load_segmenter
from sounding.segmentation.clicks import iou
from sounding.segmentation.evaluate import click_masks
from sounding.training.data import load_image, load_mask

MODES = ("mask", "text", "scenes")
METRICS_FILE = "metrics.json"
#: Clips generated per call (one batch through the sampler).
BATCH = 8
#: The first clip seed; with ``seeds`` > 1 the clips of seed ``SEED + n`` go to ``<mode>/seed<n>/``.
SEED = 0


@dataclass
class ClickedRegions:
    """The region a click gives for an object whose exact mask is ``truth``: the mask itself, or with a segmenter,
    its mask after ``clicks`` protocol clicks (the IoUs kept for the metrics)."""

    segmenter: Segmenter | None = None
    clicks: int = 1
    ious: list[float] = field(default_factory=list)

    def __call__(self, image: np.ndarray, truth: np.ndarray, name: str) -> np.ndarray:
        if self.segmenter is None:
            return truth
        mask = click_masks(self.segmenter, image, truth, self.clicks)[-1]
        if not mask.any():
            raise ValueError(f"{name}: the segmenter returned an empty mask for {self.clicks} click(s)")
        self.ious.append(iou(mask, truth))
        return mask

    def summary(self) -> dict:
        """The mean IoU of the regions since the last summary (nothing for exact masks), and a fresh start."""
        ious, self.ious = self.ious, []
        return {"mean_iou": round(float(np.mean(ious)), 4)} if ious else {}


def _requests(items, generator, seed: int, variations: int) -> list[GenerationRequest]:
    info = generator.info
    return [GenerationRequest(image=image, region=region, text=text, duration=info.default_duration, seed=seed,
                              steps=info.default_steps, guidance=info.default_guidance, variations=variations,
                              objects=objects)
            for image, region, text, objects in items]


def _generate(generator, items: list[tuple], seeds: int
              ) -> tuple[list[list[np.ndarray]], list[str | None], list[bool]]:
    """Per clip seed (``SEED``, ``SEED + 1``, ...), one clip per item: the seeds are an item's variations, so its
    condition is encoded once. Also per item: the class the object prior recognised (None without a prior) and
    whether it was unsure of it."""
    per_item = []
    for start in range(0, len(items), BATCH):
        per_item += generator.generate(_requests(items[start:start + BATCH], generator, SEED, seeds), lambda *_: None)
    clips = [[output.clips[n] for output in per_item] for n in range(seeds)]
    return (clips, [output.recognised[0].label if output.recognised else None for output in per_item],
            [output.unsure for output in per_item])


def _recognition(recognised: list[str | None], labels: list[str | None]) -> dict:
    """The share of labelled items whose object the prior recognised as their class (nothing without a prior)."""
    pairs = [(r, label) for r, label in zip(recognised, labels) if label is not None and r is not None]
    return {"prior_recognised_class": round(sum(r == label for r, label in pairs) / len(pairs), 4)} if pairs else {}


def _by_unsure(targets: list[tuple[Path, str]], unsure_ids: set[str], judge: Judge) -> dict:
    """ACC of the clips of rows the prior was unsure of and of the others (nothing when it was never unsure)."""
    if not unsure_ids:
        return {}
    parts = {name: [t for t in targets if (t[0].stem in unsure_ids) == flagged]
             for name, flagged in (("unsure", True), ("sure", False))}
    return {"unsure": {"rows": len(unsure_ids), **{f"acc_{name}": acc_of(part, judge).acc
                                                   for name, part in parts.items() if part}}}


def _write(out: Path, mode: str, ids: list[str], labels: list[str | None], clips: list[list[np.ndarray]],
           rate: int) -> list[tuple[Path, str]]:
    """The clips as WAV files (one folder per seed when there are several, so that a row's clips share a file
    name); the (file, label) pairs of those with a label, also as ``<mode>.csv``."""
    targets = []
    for n, seed_clips in enumerate(clips):
        folder = out / mode if len(clips) == 1 else out / mode / f"seed{n}"
        folder.mkdir(parents=True, exist_ok=True)
        for clip_id, label, clip in zip(ids, labels, seed_clips):
            path = folder / f"{clip_id}.wav"
            path.write_bytes(encode_audio(clip, rate))
            if label is not None:
                targets.append((path, label))
    with open(out / f"{mode}.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["audio_path", "label"])
        writer.writerows([path.relative_to(out).as_posix(), label] for path, label in targets)
    return targets


def _split_rows(data: Path, split: str) -> list[dict]:
    with open(data / "manifest.csv", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["split"] == split]


def _single(generator, judge: Judge, data: Path, out: Path, mode: str, limit: int | None,
            regions: ClickedRegions, seeds: int, split: str) -> dict:
    rows = [row for row in _split_rows(data, split) if not row["scene_id"]][:limit]
    if not rows:
        raise ValueError(f"{data}: the {split} split has no single-object rows")
    items = []
    for row in rows:
        image = load_image(data / row["image_path"])
        if mode == "mask":
            truth = load_mask(data / row["mask_path"]) if row["mask_path"] else np.ones(image.shape[:2], bool)
            items.append((image, regions(image, truth, row["id"]), None, ()))
        else:
            items.append((image, None, row["caption"], ()))
    clips, recognised, unsure = _generate(generator, items, seeds)
    labels = [row["label"] for row in rows]
    targets = _write(out, mode, [row["id"] for row in rows], labels, clips, generator.info.sample_rate)
    unsure_ids = {row["id"] for row, flagged in zip(rows, unsure) if flagged}
    return {**acc_of(targets, judge).to_dict(), "seeds": seeds, **_recognition(recognised, labels),
            **_by_unsure(targets, unsure_ids, judge), **regions.summary()}


def _scenes(generator, judge: Judge, data: Path, out: Path, limit: int | None, regions: ClickedRegions,
            seeds: int, split: str) -> dict:
    objects = defaultdict(list)
    for row in _split_rows(data, split):
        if row["scene_id"]:
            objects[row["scene_id"]].append(row)
    pairs = [rows for rows in objects.values() if len(rows) == 2][:limit]
    if not pairs:
        raise ValueError(f"{data}: the {split} split has no two-object scenes")
    items, ids, labels = [], [], []
    for first, second in pairs:
        image = load_image(data / first["image_path"])
        masks = [regions(image, load_mask(data / row["mask_path"]), row["id"]) for row in (first, second)]
        for row, mask in zip((first, second), masks):
            items.append((image, mask, None, ()))
            ids.append(row["id"])
            labels.append(row["label"])
        items.append((image, masks[0] | masks[1], None, layers_of(masks)))
        ids.append(f"{first['scene_id']}-both")
        labels.append(None)
    clips, recognised, _ = _generate(generator, items, seeds)
    _write(out, "scenes", ids, labels, clips, generator.info.sample_rate)
    index = {label: i for i, label in enumerate(judge.labels)}
    clicked = other = both = 0
    for seed_clips in clips:
        for n, (first, second) in enumerate(pairs):
            one = [judge.classify(clip, generator.info.sample_rate) for clip in seed_clips[3 * n:3 * n + 2]]
            for scores, (mine, theirs) in zip(one, ((first, second), (second, first))):
                top = int(np.argmax(scores)) if scores.max() > 0 else -1
                clicked += top == index[mine["label"]]
                other += top == index[theirs["label"]]
            scores = judge.classify(seed_clips[3 * n + 2], generator.info.sample_rate)
            both += holds_all(scores, [index[first["label"]], index[second["label"]]])
    clicks, mixes = 2 * len(pairs) * seeds, len(pairs) * seeds
    return {"scenes": len(pairs), "seeds": seeds, "one_click_clicked_class": round(clicked / clicks, 4),
            "one_click_other_class": round(other / clicks, 4),
            f"both_clicked_both_in_top{TOP_K}": round(both / mixes, 4), **_recognition(recognised, labels),
            **regions.summary()}


def evaluate_generated(model: str, data: Path, judge_dir: Path, out: Path, modes: tuple[str, ...] = MODES,
                       limit: int | None = None, segmenter: str | None = None, clicks: int = 1,
                       seeds: int = 1, split: str = "test") -> dict:
    """Generate and judge each mode in turn (``limit``: the first N rows, or scenes, of each); ``metrics.json`` is
    rewritten after every mode, so a long run's finished modes are kept if a later one fails. ``segmenter`` (a name
    or path for :func:`sounding.segmentation.load_segmenter`) and ``clicks``: regions from clicks, not exact masks.
    ``seeds``: clips per row (or click), from clip seed ``SEED`` on. ``split``: the manifest split scored."""
    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"unknown modes {sorted(unknown)}; choose from {MODES}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if clicks < 1:
        raise ValueError(f"clicks must be at least 1, got {clicks}")
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {SPLITS}")
    if clicks > 1 and segmenter is None:
        raise ValueError("clicks place points for a segmenter: give one (exact masks need no clicks)")
    from sounding.model.loading import load_generator

    generator, judge = load_generator(model), Judge.load(judge_dir)
    regions = ClickedRegions(load_segmenter(segmenter) if segmenter is not None else None, clicks)
    data, out = Path(data), Path(out)
    metrics = {}
    for mode in modes:
        metrics[mode] = (_scenes(generator, judge, data, out, limit, regions, seeds, split) if mode == "scenes"
                         else _single(generator, judge, data, out, mode, limit, regions, seeds, split))
        out.mkdir(parents=True, exist_ok=True)
        (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
        print(json.dumps({mode: metrics[mode]}, indent=2), flush=True)
    return metrics
