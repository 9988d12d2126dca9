"""``sounding bench segment`` and ``sounding eval segment``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from sounding.cli import add_threads_option


def _bench_images(width: int, height: int) -> list[np.ndarray]:
    """scikit-image's bundled photos (public domain / CC0), resized to ``width`` x ``height``."""
    from PIL import Image
    from skimage import data

    photos = (data.astronaut(), data.coffee(), data.chelsea(), data.rocket())
    return [np.asarray(Image.fromarray(p).convert("RGB").resize((width, height), Image.Resampling.BILINEAR))
            for p in photos]


def _write_json(result: dict, output: str | None) -> None:
    text = json.dumps(result, indent=2)
    print(text)
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text + "\n")


def bench_segment(args: argparse.Namespace) -> int:
    import torch

    from sounding.segmentation import load_segmenter
    from sounding.segmentation.benchmark import measure_latency

    segmenter = load_segmenter(args.segmenter, args.device)
    width, height = (int(v) for v in args.size.lower().split("x"))
    result = measure_latency(segmenter, _bench_images(width, height), clicks_per_image=args.clicks)
    _write_json({"segmenter": args.segmenter or "embedded", "device": args.device, "threads": torch.get_num_threads(),
                 **result.to_dict()}, args.output)
    return 0 if result.passed or not args.strict else 1


def eval_segment(args: argparse.Namespace) -> int:
    from sounding.segmentation import load_segmenter
    from sounding.segmentation.evaluate import evaluate

    segmenter = load_segmenter(args.segmenter, args.device)
    curves = []
    if args.composites:
        from sounding.segmentation.composites import composite_set

        composites = composite_set(args.data_dir, "heldout", args.composites, seed=args.seed)
        curves.append(evaluate(segmenter, [(c.image, c.mask) for c in composites], "composites-heldout", args.clicks))
    if args.closeups:
        from sounding.segmentation.composites import CLOSEUP_SCALE, composite_set

        closeups = composite_set(args.data_dir, "heldout", args.closeups, seed=args.seed, target_scale=CLOSEUP_SCALE)
        curves.append(evaluate(segmenter, [(c.image, c.mask) for c in closeups], "closeups-heldout", args.clicks))
    if args.renders:
        from sounding.segmentation.renders import render_samples

        samples = render_samples(args.renders, seed=args.seed)
        curves.append(evaluate(segmenter, samples, "blender-renders", args.clicks))
    if args.furniture:
        from sounding.segmentation.renders import furniture_models, render_samples

        models = furniture_models("heldout", args.data_dir / "furniture")
        samples = render_samples(args.furniture, seed=args.seed, models=models)
        curves.append(evaluate(segmenter, samples, "blender-furniture-heldout", args.clicks))
    _write_json({"segmenter": args.segmenter or "embedded", "clicks": args.clicks, "seed": args.seed,
                 "results": [c.to_dict() for c in curves]}, args.output)
    return 0


SEGMENTER_HELP = ("'clicknet', 'clicknet-learned', 'clicknet-raw', 'superpixel' (sounding.segmentation."
                  "BUILTIN_SEGMENTERS) or a checkpoint directory (default: clicknet-learned)")


def register(commands) -> None:
    evaluation = commands["eval"].add_parser(
        "segment", help="interactive mIoU after 1..N clicks on held-out composites and Blender renders")
    evaluation.add_argument("--segmenter", default=None, help=SEGMENTER_HELP)
    evaluation.add_argument("--device", default="cpu")
    # Per-composite IoUs spread with a standard deviation of about 0.14: the mean of 1,000 has a standard error of
    # about 0.005.
    evaluation.add_argument("--composites", type=int, default=1000, help="held-out composites (0 to skip)")
    evaluation.add_argument("--renders", type=int, default=10, help="Blender scenes, 4-6 objects each (0 to skip)")
    evaluation.add_argument("--closeups", type=int, default=0,
                            help="held-out composites whose target fills the frame (0 to skip)")
    evaluation.add_argument("--furniture", type=int, default=0,
                            help="Blender scenes of held-out Sweet Home 3D models (needs sweethome3d-furniture)")
    evaluation.add_argument("--clicks", type=int, default=3)
    evaluation.add_argument("--seed", type=int, default=1)
    evaluation.add_argument("--data-dir", type=Path, default=Path("data/segmentation"),
                            help="cut-out cache (built on first use from the installed Debian packages)")
    add_threads_option(evaluation)
    evaluation.add_argument("--output", default=None, help="also write the JSON result here")
    evaluation.set_defaults(func=eval_segment)

    bench = commands["bench"].add_parser("segment", help="click -> mask latency (first click and cached clicks)")
    bench.add_argument("--segmenter", default=None, help=SEGMENTER_HELP)
    bench.add_argument("--device", default="cpu")
    bench.add_argument("--size", default="640x480", help="benchmark image size WxH (default 640x480)")
    bench.add_argument("--clicks", type=int, default=10, help="timed clicks per image after the first")
    add_threads_option(bench)
    bench.add_argument("--output", default=None, help="also write the JSON result here")
    bench.add_argument("--strict", action="store_true", help="exit 1 when a latency target is missed")
    bench.set_defaults(func=bench_segment)
