"""Train the learned full-resolution refiner (``python -m sounding.segmentation.train_refiner``).

The click segmenter (decoder and colour refinement) is frozen. For composites of the ``train`` split it is run on one
to three clicks placed by the evaluation protocol (:func:`sounding.segmentation.clicks.next_click`), and its maps at
the backbone's input size are kept: the upsampled network logits and the colour-refined ones. The refiner
(:mod:`sounding.segmentation.learned_refine`) then learns a residual on crops of those maps, half of them centred on
a pixel the segmenter gets wrong and half on an object edge, where its corrections matter; the rest of a frame is
mostly right already. Loss: BCE + soft IoU. The refiner is saved beside the segmenter's decoder (``--out``).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sounding.segmentation.clicknet import EMBEDDED_DIR, ClickNetSegmenter, click_maps
from sounding.segmentation.clicks import next_click
from sounding.segmentation.composites import Composite, composite_set
from sounding.segmentation.learned_refine import LearnedRefiner, LearnedRefinerConfig
from sounding.segmentation.train import DATA_DIR

#: Samples simulated, or training steps run, between progress lines.
REPORT_EVERY = 500


@dataclass
class RefinerTrainConfig:
    composites: int = 2000  # per composite set
    sets: tuple[int, ...] = (7, 8)  # composite set seeds (keep them apart from the evaluation's 1, 2, 3)
    max_clicks: int = 3  # each sample gets 1..max_clicks protocol clicks
    steps: int = 4000
    batch_size: int = 16
    crop: int = 112  # side of the square training crops, pixels of the backbone's input
    error_share: float = 0.5  # crops centred on a wrong pixel (the rest on an object edge)
    lr: float = 3e-3  # peak of the one-cycle schedule
    warmup: float = 0.05  # share of the steps spent rising to ``lr``
    weight_decay: float = 1e-4
    seed: int = 0  # click counts, crops and batch order

    def __post_init__(self):
        if min(self.composites, self.max_clicks, self.steps, self.batch_size, self.crop) < 1 or not self.sets:
            raise ValueError("composites, max_clicks, steps, batch_size and crop must be >= 1, with one set at least")
        if not 0.0 <= self.error_share <= 1.0 or not 0.0 < self.warmup < 1.0:
            raise ValueError(f"error_share must be in [0, 1] and warmup in (0, 1), got {self.error_share}, "
                             f"{self.warmup}")


@dataclass
class RefinerSamples:
    """The frozen segmenter's maps for simulated clicks, at the backbone's input size (one row per sample)."""

    pixels: torch.Tensor  # (N, 3, h, w) ImageNet-normalised, float16
    network: torch.Tensor  # (N, 1, h, w) upsampled network logits, float16
    refined: torch.Tensor  # (N, 1, h, w) colour-refined logits, float16
    clicks: torch.Tensor  # (N, 2, h, w) click maps, float16
    masks: torch.Tensor  # (N, 1, h, w) bool, the truth

    def __len__(self) -> int:
        return len(self.masks)


def simulate(segmenter: ClickNetSegmenter, composites: list[Composite], rng: np.random.Generator, max_clicks: int,
             sigma: float) -> RefinerSamples:
    """Run the segmenter on 1..``max_clicks`` protocol clicks per composite (each on the mask it showed for the
    clicks before) and keep its maps for the last click."""
    rows: dict[str, list[torch.Tensor]] = {k: [] for k in ("pixels", "network", "refined", "clicks", "masks")}
    started = time.time()
    with torch.inference_mode():
        for index, composite in enumerate(composites):
            _simulate_one(segmenter, composite, rng, max_clicks, sigma, rows)
            if (index + 1) % REPORT_EVERY == 0:
                print(f"simulated {index + 1}/{len(composites)} ({time.time() - started:.0f} s)", flush=True)
    # clones made outside inference mode are ordinary tensors, which training may use with autograd
    return RefinerSamples(**{k: torch.stack(v).clone() for k, v in rows.items()})


def _simulate_one(segmenter: ClickNetSegmenter, composite: Composite, rng: np.random.Generator, max_clicks: int,
                  sigma: float, rows: dict[str, list[torch.Tensor]]) -> None:
    image, truth = composite.image, composite.mask
    embedding = segmenter.embed(image)
    if embedding.colours.shape != truth.shape:
        raise ValueError(f"composites must be at the backbone's input size {embedding.colours.shape}, "
                         f"got {truth.shape}")
    points, labels, shown = [], [], None
    count = int(rng.integers(1, max_clicks + 1))
    for index in range(count):
        click = next_click(truth, shown)
        if click is None:
            break
        points.append((click.x, click.y))
        labels.append(int(click.positive))
        if index + 1 < count:  # the mask the next click corrects; the last click's maps are taken below
            shown = segmenter.segment(image, np.array(points, np.float32), np.array(labels)).mask
    p, lab = np.array(points, np.float32), np.array(labels)
    coarse, _ = segmenter.coarse_logits(embedding, image.shape[:2], p, lab)
    network, refined = segmenter.colour_refined(coarse, embedding, p, lab)
    rows["pixels"].append(embedding.pixels[0].half())
    rows["network"].append(network[None].half())
    rows["refined"].append(refined.clamp(-100, 100)[None].half())
    rows["clicks"].append(click_maps(p, lab, truth.shape, 1.0, (sigma,)).half())
    rows["masks"].append(torch.from_numpy(truth)[None])


def crop_centres(predicted: torch.Tensor, truth: torch.Tensor, rng: np.random.Generator,
                 error_share: float) -> tuple[int, int]:
    """(y, x) a crop is centred on: a wrong pixel with probability ``error_share`` (when there is one), else a
    pixel of the object's edge (its first difference along either axis), else the middle."""
    wrong = (predicted ^ truth).nonzero()
    edge = ((truth ^ torch.roll(truth, 1, 0)) | (truth ^ torch.roll(truth, 1, 1))).nonzero()
    pool = wrong if len(wrong) and (rng.random() < error_share or not len(edge)) else edge
    if not len(pool):
        return truth.shape[0] // 2, truth.shape[1] // 2
    y, x = pool[int(rng.integers(len(pool)))].tolist()
    return y, x


def crops(maps: torch.Tensor, index: np.ndarray, windows: list[tuple[slice, ...]]) -> torch.Tensor:
    """The windows of the samples ``index`` of ``maps`` (N, C, h, w), as one float batch."""
    return torch.stack([maps[i][window] for i, window in zip(index, windows)]).float()


def refiner_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE + (1 - soft IoU) per sample, averaged."""
    p = torch.sigmoid(logits)
    soft_iou = (p * target).sum((1, 2, 3)) / (p + target - p * target).sum((1, 2, 3)).clamp_min(1e-6)
    return F.binary_cross_entropy_with_logits(logits, target) + (1 - soft_iou).mean()


def train_refiner(samples: RefinerSamples, config: RefinerTrainConfig,
                  model_config: LearnedRefinerConfig = LearnedRefinerConfig()) -> tuple[LearnedRefiner, list[float]]:
    h, w = samples.masks.shape[-2:]
    if config.crop > min(h, w):
        raise ValueError(f"crop {config.crop} is larger than the samples ({h} x {w})")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    refiner = LearnedRefiner(model_config).train()
    optimizer = torch.optim.AdamW(refiner.parameters(), config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.steps,
                                                   pct_start=config.warmup)
    losses = []
    c = config.crop
    for _ in range(config.steps):
        index = rng.integers(0, len(samples), config.batch_size)
        windows = []
        for i in index:
            y, x = crop_centres(samples.refined[i, 0] > 0, samples.masks[i, 0], rng, config.error_share)
            y0, x0 = int(np.clip(y - c // 2, 0, h - c)), int(np.clip(x - c // 2, 0, w - c))
            windows.append((slice(None), slice(y0, y0 + c), slice(x0, x0 + c)))
        inputs = [crops(maps, index, windows) for maps in (samples.pixels, samples.network, samples.refined,
                                                           samples.clicks, samples.masks)]
        logits = refiner(*inputs[:4])
        loss = refiner_loss(logits, inputs[4])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if len(losses) % REPORT_EVERY == 0:
            print(f"step {len(losses)}/{config.steps}: loss {np.mean(losses[-REPORT_EVERY:]):.4f}", flush=True)
    return refiner.eval(), losses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--segmenter", type=Path, default=EMBEDDED_DIR, help="click network directory (frozen)")
    parser.add_argument("--out", type=Path, default=None, help="where the refiner is saved (default: --segmenter)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--composites", type=int, default=RefinerTrainConfig.composites)
    parser.add_argument("--sets", type=int, nargs="+", default=list(RefinerTrainConfig.sets))
    parser.add_argument("--steps", type=int, default=RefinerTrainConfig.steps)
    parser.add_argument("--lr", type=float, default=RefinerTrainConfig.lr)
    parser.add_argument("--width", type=int, default=LearnedRefinerConfig.width)
    parser.add_argument("--seed", type=int, default=RefinerTrainConfig.seed)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = RefinerTrainConfig(composites=args.composites, sets=tuple(args.sets), steps=args.steps, lr=args.lr,
                                seed=args.seed)
    model_config = LearnedRefinerConfig(width=args.width)
    segmenter = ClickNetSegmenter.from_pretrained(args.segmenter)  # decoder + colour refinement, frozen
    started = time.time()
    rng = np.random.default_rng(config.seed)
    parts = [simulate(segmenter, composite_set(args.data_dir, "train", config.composites, seed=seed), rng,
                      config.max_clicks, model_config.click_sigma) for seed in config.sets]
    # field names, not asdict: asdict deep-copies every sample tensor
    samples = RefinerSamples(**{f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in fields(RefinerSamples)})
    simulated = time.time() - started
    refiner, losses = train_refiner(samples, config, model_config)
    refiner.save_pretrained(args.out or args.segmenter)
    window = losses[-100:]
    print(json.dumps({"train": asdict(config), "refiner": asdict(model_config), "samples": len(samples),
                      "simulate_seconds": round(simulated), "train_seconds": round(time.time() - started - simulated),
                      "final_loss": sum(window) / len(window)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
