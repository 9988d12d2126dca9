"""``sounding bench segment`` and ``sounding eval segment``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


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

    torch.set_num_threads(args.threads)
    segmenter = load_segmenter(args.segmenter, args.device)
    width, height = (int(v) for v in args.size.lower().split("x"))
    result = measure_latency(segmenter, _bench_images(width, height), clicks_per_image=args.clicks)
    _write_json({"segmenter": args.segmenter or "embedded", "device": args.device, "threads": args.threads,
                 **result.to_dict()}, args.output)
    return 0 if result.passed or not args.strict else 1


def register(commands) -> None:
    bench = commands["bench"].add_parser("segment", help="click -> mask latency (first click and cached clicks)")
    bench.add_argument("--segmenter", default=None, help="SAM checkpoint directory (default: the embedded segmenter)")
    bench.add_argument("--device", default="cpu")
    bench.add_argument("--size", default="640x480", help="benchmark image size WxH (default 640x480)")
    bench.add_argument("--clicks", type=int, default=10, help="timed clicks per image after the first")
    bench.add_argument("--threads", type=int, default=1, help="torch threads")
    bench.add_argument("--output", default=None, help="also write the JSON result here")
    bench.add_argument("--strict", action="store_true", help="exit 1 when a latency target is missed")
    bench.set_defaults(func=bench_segment)
