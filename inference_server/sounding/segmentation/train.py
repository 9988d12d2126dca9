"""Train the embedded click decoder on composites of the ``train`` split (``python -m sounding.segmentation.train``).

The backbone is frozen, so its features are computed once per composite, kept in memory (float16) and cached in
the data directory; training then runs only the decoder. Clicks are simulated iteratively as in RITM (Sofiiuk et al.
2022): a first click inside the object (the protocol's farthest-from-boundary point or a random interior point), then
up to two corrective clicks placed by :func:`sounding.segmentation.clicks.next_click` on the decoder's own current
prediction. With ``--previous-mask`` the decoder also gets its prediction for the clicks before the last one (zeros
at the first click), as at inference. ``--init DIR`` fine-tunes a saved decoder (e.g. on a fresh composite set,
``--seed``); a decoder saved without the previous-mask or the ``--click-similarity`` input starts with that input's
weights at zero.
``--tune-from-block N`` also fine-tunes the backbone's blocks from N on (at ``--tail-lr``), recomputed each step
from the cached features of the blocks before N. ``--render-sets`` adds random Blender scenes with exact object masks
(:mod:`sounding.segmentation.renders`, every visible object a sample), so the decoder also sees shaded 3D renders;
``--furniture-sets`` adds such scenes built from the train split's Sweet Home 3D models, ``--closeup-sets``
composites whose target fills the frame (:data:`sounding.segmentation.composites.CLOSEUP_SCALE`).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from scipy import ndimage

from sounding.segmentation.clicknet import (DECODER_WEIGHTS, EMBEDDED_DIR, TAIL_WEIGHTS, Backbone, ClickDecoder,
                                            ClickNetConfig, click_maps, normalise, save_decoder)
from sounding.segmentation.clicks import next_click
from sounding.segmentation.composites import CLOSEUP_SCALE, TARGET_SCALE, composite_set

DATA_DIR = Path("data/segmentation")


@dataclass
class TrainConfig:
    composites: int = 1500
    steps: int = 2000
    batch_size: int = 8
    lr: float = 2e-3
    tail_lr: float = 1e-4  # the backbone blocks fine-tuned when ClickNetConfig.tuned_from_block is set
    max_corrections: int = 2  # corrective clicks simulated per sample (0..max)
    focal_gamma: float = 0.0  # > 0: pixels weighted toward the ones still wrong (:func:`pixel_loss`); 0: plain BCE
    seed: int = 0  # batch order and click simulation
    sets: tuple[int, ...] = ()  # seeds of the composite sets trained on (each ``composites`` large); () = (seed,)
    #: Seeds of Blender render sets also trained on (each ``renders`` scenes); keep them apart from the seeds
    #: ``sounding eval segment`` renders with (1, 2, 3, ...), so evaluated scenes are never trained on.
    render_sets: tuple[int, ...] = ()
    furniture_sets: tuple[int, ...] = ()  # the same with the train split's furniture models in place of primitives
    closeup_sets: tuple[int, ...] = ()  # composite sets (``composites`` large) whose target fills the frame
    renders: int = 200  # scenes per render or furniture set
    size: tuple[int, int] = (240, 320)  # composite (H, W); its longest side must equal the net's work_size

    @property
    def composite_seeds(self) -> tuple[int, ...]:
        return self.sets or (self.seed,)


#: Time allowed per scene when rendering a training set (about 2 s each here at 320 x 240, 16 samples).
RENDER_TIMEOUT_PER_SCENE = 30.0


@torch.inference_mode()
def precompute_features(backbone: Backbone, images: list[np.ndarray], batch: int = 8) -> list[list[torch.Tensor]]:
    """Backbone features (float16, without the batch axis) of each image; samples that share one image array (the
    objects of one render) share one computation and one set of tensors."""
    unique = list({id(image): image for image in images}.values())
    out = {}
    for start in range(0, len(unique), batch):
        chunk = unique[start : start + batch]
        features = backbone(torch.cat([normalise(image) for image in chunk]))
        out.update({id(image): [f[i].half() for f in features] for i, image in enumerate(chunk)})
    return [out[id(image)] for image in images]


def cached_features(cache: Path, make_samples) -> tuple[list[list[torch.Tensor]], list]:
    """Backbone features and masks of the (image, mask) samples ``make_samples()`` returns, computed once and
    cached in ``cache``."""
    if cache.is_file():
        stored = torch.load(cache, weights_only=True)
        return stored["features"], list(stored["masks"].numpy())
    samples = make_samples()
    features = precompute_features(Backbone.pretrained(), [image for image, _ in samples])
    masks = [mask for _, mask in samples]
    torch.save({"features": features, "masks": torch.from_numpy(np.stack(masks))}, cache)
    return features, masks


def composite_features(config: TrainConfig, seed: int, data_dir: Path,
                       closeup: bool = False) -> tuple[list[list[torch.Tensor]], list]:
    """One composite set (seed ``seed``) of the train split's cut-outs, or of close-ups of them."""
    kind = "closeup-features" if closeup else "features"
    cache = data_dir / f"train-{kind}-{config.composites}-{seed}-{config.size[0]}x{config.size[1]}.pt"
    return cached_features(cache, lambda: [(c.image, c.mask) for c in composite_set(
        data_dir, "train", config.composites, seed=seed, size=config.size,
        target_scale=CLOSEUP_SCALE if closeup else TARGET_SCALE)])


def render_features(config: TrainConfig, seed: int, data_dir: Path,
                    furniture: bool = False) -> tuple[list[list[torch.Tensor]], list]:
    """One set of ``config.renders`` random Blender scenes (seed ``seed``) of primitives, or of the train split's
    furniture models, every visible object a sample."""
    from sounding.segmentation.renders import furniture_models, render_samples

    kind = "furniture" if furniture else "render"
    cache = data_dir / f"train-{kind}-features-{config.renders}-{seed}-{config.size[0]}x{config.size[1]}.pt"
    return cached_features(cache, lambda: render_samples(
        config.renders, seed=seed, size=config.size, timeout=RENDER_TIMEOUT_PER_SCENE * config.renders,
        models=furniture_models("train", data_dir / "furniture") if furniture else None))


def first_click(truth: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """The protocol's first click half of the time, else a random interior point (at least 1/3 of the max depth)."""
    distance = ndimage.distance_transform_edt(np.pad(truth, 1))[1:-1, 1:-1]
    if rng.random() < 0.5:
        y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    else:
        ys, xs = np.nonzero(distance >= distance.max() / 3)
        i = int(rng.integers(len(ys)))
        y, x = ys[i], xs[i]
    return float(x), float(y)


def pixel_loss(logits: torch.Tensor, target: torch.Tensor, focal_gamma: float = 0.0) -> torch.Tensor:
    """Mean per-pixel BCE. With ``focal_gamma`` > 0, each pixel is weighted by (1 - p_true)^gamma, the weights
    rescaled to mean 1 per image (RITM's normalised focal loss, weights detached): the loss stays on the scale of
    BCE but concentrates on the pixels still wrong (thin parts, edges, the parts a click missed)."""
    if focal_gamma < 0:
        raise ValueError(f"focal_gamma must be >= 0, got {focal_gamma}")
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if focal_gamma == 0:
        return bce.mean()
    with torch.no_grad():
        weight = (1 - torch.exp(-bce)) ** focal_gamma
        weight = weight / weight.mean(tuple(range(1, weight.ndim)), keepdim=True).clamp_min(1e-8)
    return (weight * bce).mean()


def batch_tensors(features: list[list[torch.Tensor]], index: np.ndarray) -> list[torch.Tensor]:
    return [torch.stack([features[i][level] for i in index]).float() for level in range(4)]


def batch_click_maps(clicks: list[list[tuple[float, float, int]]], grid: tuple[int, int], cell: float,
                     net: ClickNetConfig) -> torch.Tensor:
    """Click maps (B, 4, h, w) of each sample's (x, y, label) clicks in composite pixels."""
    return torch.stack([click_maps(np.array([c[:2] for c in cs]), np.array([c[2] for c in cs]), grid, cell,
                                   net.click_sigmas) for cs in clicks])


@torch.no_grad()
def simulate_clicks(decoder: ClickDecoder, features: list[torch.Tensor], masks: list[np.ndarray],
                    first: list[tuple[float, float]], corrections: int, net: ClickNetConfig, size: tuple[int, int],
                    map_clicks=map) -> tuple[torch.Tensor, torch.Tensor | None]:
    """RITM's iterative click simulation: from each sample's first (x, y) click, ``corrections`` rounds of the
    decoder's own prediction and a corrective click (:func:`next_click`) on it. Returns the click maps and the
    previous-mask input (None without it) for the training pass; ``map_clicks`` may spread the clicks over
    processes (``Pool.map``)."""
    grid = tuple(features[0].shape[-2:])
    cell = grid[1] / size[1]
    device = features[0].device
    clicks = [[(x, y, 1)] for x, y in first]
    previous = torch.zeros(len(masks), 1, *grid, device=device) if net.previous_mask else None
    decoder.eval()
    for _ in range(corrections):
        coarse = decoder(features, batch_click_maps(clicks, grid, cell, net).to(device), previous).float()
        prediction = F.interpolate(coarse, size=size, mode="bilinear", align_corners=False)[:, 0] > 0
        if net.previous_mask:
            previous = torch.sigmoid(coarse)
        for cs, click in zip(clicks, map_clicks(_next_click, zip(masks, prediction.cpu().numpy()))):
            if click is not None:
                cs.append((click.x, click.y, int(click.positive)))
    return batch_click_maps(clicks, grid, cell, net).to(device), previous


def _next_click(pair: tuple[np.ndarray, np.ndarray]):
    return next_click(*pair)


def mask_loss(coarse: torch.Tensor, target: torch.Tensor, focal_gamma: float = 0.0) -> torch.Tensor:
    """Stride-4 logits (B, 1, h, w) against (B, 1, H, W) float masks: per-pixel BCE (:func:`pixel_loss`) plus
    1 - soft IoU, at the masks' resolution."""
    logits = F.interpolate(coarse.float(), size=target.shape[-2:], mode="bilinear", align_corners=False)
    prob = torch.sigmoid(logits)
    soft_iou = (prob * target).sum((1, 2, 3)) / (prob + target - prob * target).sum((1, 2, 3)).clamp_min(1)
    return pixel_loss(logits, target, focal_gamma) + (1 - soft_iou).mean()


def train(config: TrainConfig, net: ClickNetConfig, out: Path, data_dir: Path = DATA_DIR,
          init: Path | None = None) -> dict:
    """Train a decoder (from scratch, or fine-tune the one saved in ``init``) and save it in ``out`` every 500 steps."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    if max(config.size) != net.work_size:
        raise ValueError(f"composite size {config.size} must have longest side work_size={net.work_size}")
    if net.tuned_from_block == 0:
        raise ValueError("tuning every backbone block needs images, not cached features: "
                         "python -m sounding.segmentation.train_end_to_end")
    start = time.time()
    features, masks = [], []
    sets = [(composite_features, seed) for seed in config.composite_seeds]
    sets += [(render_features, seed) for seed in config.render_sets]
    sets += [(partial(render_features, furniture=True), seed) for seed in config.furniture_sets]
    sets += [(partial(composite_features, closeup=True), seed) for seed in config.closeup_sets]
    for load_set, seed in sets:
        set_features, set_masks = load_set(config, seed, data_dir)
        features += set_features
        masks += set_masks
    targets = torch.from_numpy(np.stack(masks).astype(bool, copy=False))[:, None]  # (N, 1, H, W), made float per batch
    print(f"{len(masks)} samples and features in {time.time() - start:.0f} s", flush=True)

    decoder = ClickDecoder(net)
    if init is not None:
        decoder.load_weights(load_file(Path(init) / DECODER_WEIGHTS))
    groups = [{"params": list(decoder.parameters()), "lr": config.lr}]
    backbone = None
    if net.tuned_from_block is not None:
        backbone = tuned_backbone(net.tuned_from_block, init)
        groups.append({"params": [p for p in backbone.parameters() if p.requires_grad], "lr": config.tail_lr})
    optimizer = torch.optim.AdamW(groups, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, [group["lr"] for group in groups],
                                                   total_steps=config.steps, pct_start=0.05)
    log = []
    for step in range(config.steps):
        index = rng.integers(0, len(masks), config.batch_size)
        feats = batch_tensors(features, index)
        if backbone is not None:
            tuned = backbone.forward_from(feats, net.tuned_from_block)
            feats = [f.detach() for f in tuned]  # for simulating the clicks
        first = [first_click(masks[i], rng) for i in index]
        maps, previous = simulate_clicks(decoder, feats, [masks[i] for i in index], first,
                                         int(rng.integers(0, config.max_corrections + 1)), net, config.size)
        decoder.train()
        if backbone is not None:
            feats = tuned
        coarse = decoder(feats, maps, previous)
        loss = mask_loss(coarse, targets[index].float(), config.focal_gamma)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        log.append(loss.item())
        if (step + 1) % 50 == 0:
            print(f"step {step + 1}/{config.steps} loss {np.mean(log[-50:]):.4f} {time.time() - start:.0f} s",
                  flush=True)
        if (step + 1) % 500 == 0 or step + 1 == config.steps:
            save_decoder(decoder, net, out, backbone)
    summary = {"train": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
               "final_loss": float(np.mean(log[-100:])), "seconds": round(time.time() - start)}
    (out / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def tuned_backbone(start: int, init: Path | None, backbone: Backbone | None = None) -> Backbone:
    """``backbone`` (default: the pretrained one) with blocks ``start`` on trainable (the tail saved in ``init`` when
    there is one); batch norm keeps ImageNet's statistics (eval mode), since batches of 8 are too small to
    re-estimate them."""
    backbone = backbone or Backbone.pretrained()
    if init is not None and (Path(init) / TAIL_WEIGHTS).is_file():
        backbone.load_tail(load_file(Path(init) / TAIL_WEIGHTS), start)
    for i in range(start, len(backbone.net._blocks)):
        backbone.net._blocks[i].requires_grad_(True)
    return backbone.eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=EMBEDDED_DIR, help="output directory (default: the shipped one)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--composites", type=int, default=TrainConfig.composites)
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--focal-gamma", type=float, default=TrainConfig.focal_gamma,
                        help="weight pixels toward the ones still wrong (0: plain BCE)")
    parser.add_argument("--width", type=int, default=ClickNetConfig.width)
    parser.add_argument("--seed", type=int, default=TrainConfig.seed, help="composite set and batch order")
    parser.add_argument("--sets", type=int, nargs="+", default=[],
                        help="train on the union of these composite sets (seeds; default: --seed's set)")
    parser.add_argument("--render-sets", type=int, nargs="+", default=[],
                        help="also train on Blender render sets with these seeds (not the evaluation's 1, 2, 3, ...)")
    parser.add_argument("--furniture-sets", type=int, nargs="+", default=[],
                        help="also train on Blender scenes of the train split's furniture models (seeds)")
    parser.add_argument("--closeup-sets", type=int, nargs="+", default=[],
                        help="also train on composite sets whose target fills the frame (seeds)")
    parser.add_argument("--renders", type=int, default=TrainConfig.renders, help="scenes per render or furniture set")
    parser.add_argument("--previous-mask", action="store_true",
                        help="feed the decoder its previous prediction (ClickNetConfig.previous_mask)")
    parser.add_argument("--click-similarity", action="store_true",
                        help="feed the decoder each position's similarity to the clicked features "
                             "(ClickNetConfig.click_similarity)")
    parser.add_argument("--attention-layers", type=int, default=ClickNetConfig.attention_layers,
                        help="transformer layers after the stride-16 fusion (ClickNetConfig.attention_layers)")
    parser.add_argument("--tune-from-block", type=int, default=None,
                        help="also fine-tune the backbone's blocks from this index on (3, 5 or 11; default: frozen)")
    parser.add_argument("--tail-lr", type=float, default=TrainConfig.tail_lr,
                        help="learning rate of the fine-tuned backbone blocks")
    parser.add_argument("--init", type=Path, default=None, help="fine-tune the decoder saved in this directory")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = TrainConfig(composites=args.composites, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                         seed=args.seed, sets=tuple(args.sets), focal_gamma=args.focal_gamma, tail_lr=args.tail_lr,
                         render_sets=tuple(args.render_sets), furniture_sets=tuple(args.furniture_sets),
                         closeup_sets=tuple(args.closeup_sets),
                         renders=args.renders)
    net = ClickNetConfig(width=args.width, previous_mask=args.previous_mask, click_similarity=args.click_similarity,
                         attention_layers=args.attention_layers, tuned_from_block=args.tune_from_block)
    print(json.dumps(train(config, net, args.out, args.data_dir, args.init), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
