"""Subcommands of the method: ``sounding train`` and ``sounding bench generate``."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from sounding.cli import add_threads_option
from sounding.training.config import (CLIP_RANKER_CANDIDATES, FOLEY_MINI_OBJECT_PRIOR_STRENGTH,
                                      OBJECT_PRIOR_IMAGENET_WEIGHT, OBJECT_PRIOR_UNSURE_BELOW)

#: The bench's default clip: 4 s, the length Blender users ask for most (one beat of a shot).
BENCH_DURATION = 4.0
BENCH_REPEATS = 3


def register(commands) -> None:
    train = commands["top"].add_parser("train", help="train the object-aware diffusion model (or its VAE)")
    train.add_argument("--config", required=True,
                       help="named training config (paper, tiny, foley-mini-vae, foley-mini, foley-mini-vae-decoder) "
                            "or a JSON file")
    train.add_argument("--model", help="named model config or model directory to start from (overrides the config)")
    train.add_argument("--manifest", help="CSV/JSONL of image, audio, caption[, mask] rows (overrides the config)")
    train.add_argument("--output", help="run folder (resumed when it holds a checkpoint)")
    train.add_argument("--max-steps", type=int, dest="max_steps")
    train.add_argument("--batch-size", type=int, dest="batch_size")
    train.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    add_threads_option(train)
    train.set_defaults(func=train_command)

    prior = _fit_parser(commands, "fit-prior", "object prior", "object_prior", fit_prior_command)
    prior.add_argument("--strength", type=float, default=FOLEY_MINI_OBJECT_PRIOR_STRENGTH,
                       help="0: the conditioner's own condition, 1: the recognised class's typical condition")
    prior.add_argument("--imagenet-weight", type=float, default=OBJECT_PRIOR_IMAGENET_WEIGHT,
                       help="weight of the image encoder's ImageNet classifier in recognising a class (0: class "
                            "means alone; ignored for encoders without one)")
    prior.add_argument("--unsure-below", type=float, default=OBJECT_PRIOR_UNSURE_BELOW,
                       help="a recognised class scoring under this is reported as unsure (0: never; "
                            "`sounding eval recognition` suggests one)")
    ranker = _fit_parser(commands, "fit-ranker", "clip ranker", "clip_ranker", fit_ranker_command)
    ranker.add_argument("--candidates", type=int, default=CLIP_RANKER_CANDIDATES,
                        help="clips made per clip kept (1: no choice, the first clip as without a ranker)")

    bench = commands["bench"].add_parser("generate", help="time one clip with default settings (JSON)")
    bench.add_argument("--model", default="tiny", help="named config or model directory")
    bench.add_argument("--device", default="cpu")
    bench.add_argument("--duration", type=float, default=BENCH_DURATION)
    bench.add_argument("--steps", type=int, default=None, help="default: the model's")
    bench.add_argument("--repeats", type=int, default=BENCH_REPEATS)
    bench.add_argument("--objects", type=int, default=1, help="selected objects (side by side); under an object "
                                                               "prior each is made apart and the clips mixed")
    add_threads_option(bench)
    bench.add_argument("--output", type=Path, default=None, help="also write the JSON here")
    bench.set_defaults(func=bench_generate)


def _fit_parser(commands, name: str, part: str, folder: str, func) -> argparse.ArgumentParser:
    """A ``sounding fit-...`` command: which model directory's part to replace, fitted on which labelled rows."""
    parser = commands["top"].add_parser(name, help=f"fit a model directory's {part} on labelled rows")
    parser.add_argument("--model", required=True, type=Path, help=f"model directory; its {folder}/ is replaced")
    parser.add_argument("--manifest", required=True, help="CSV/JSONL with a label column (e.g. Foley-Mini's)")
    parser.add_argument("--split", default="train", help="manifest split fitted on (default: train)")
    add_threads_option(parser)
    parser.set_defaults(func=func)
    return parser


def train_command(args: argparse.Namespace) -> int:
    from sounding.training.config import load_train_config
    from sounding.training.loop import train

    config = load_train_config(args.config, model=args.model, manifest=args.manifest, output=args.output,
                               max_steps=args.max_steps, batch_size=args.batch_size)
    if args.print_config:
        print(config.to_json())
        return 0
    result = train(config)
    print(json.dumps({"model_dir": str(result.model_dir), "steps_run": len(result.losses),
                      "last_loss": result.losses[-1] if result.losses else None}))
    return 0


def _model_directory(path: Path) -> Path:
    from sounding.model.loading import CONFIG_FILE

    if not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{path} is not a model directory (no {CONFIG_FILE})")
    return path


def fit_prior_command(args: argparse.Namespace) -> int:
    from sounding.model.loading import OBJECT_PRIOR_DIR, load_generator, save_fitted_part
    from sounding.training.data import read_rows
    from sounding.training.object_prior import fit_object_prior

    generator = load_generator(str(_model_directory(args.model)), fitted_parts=False)
    prior = fit_object_prior(generator, read_rows(args.manifest, args.split), args.strength, args.imagenet_weight,
                             args.unsure_below)
    save_fitted_part(prior, args.model)
    print(json.dumps({"object_prior": str(args.model / OBJECT_PRIOR_DIR), "classes": len(prior.config.labels),
                      "strength": prior.config.strength, "imagenet_weight": prior.config.imagenet_weight,
                      "unsure_below": prior.config.unsure_below}))
    return 0


def fit_ranker_command(args: argparse.Namespace) -> int:
    from sounding.model.loading import CLIP_RANKER_DIR, load_generator, save_fitted_part
    from sounding.training.clip_ranker import fit_clip_ranker
    from sounding.training.data import read_rows

    generator = load_generator(str(_model_directory(args.model)), fitted_parts=False)
    ranker = fit_clip_ranker(generator, read_rows(args.manifest, args.split), args.candidates)
    save_fitted_part(ranker, args.model)
    print(json.dumps({"clip_ranker": str(args.model / CLIP_RANKER_DIR), "classes": len(ranker.config.labels),
                      "candidates": ranker.config.candidates}))
    return 0


def bench_generate(args: argparse.Namespace) -> int:
    import torch

    from sounding.engine import GenerationRequest, layers_of
    from sounding.model.loading import load_generator

    if args.objects < 1:
        raise SystemExit(f"--objects must be at least 1, got {args.objects}")
    start = time.perf_counter()
    generator = load_generator(args.model, args.device)
    load_s = time.perf_counter() - start
    info = generator.info
    image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    objects = []
    for columns in np.array_split(np.arange(64, 192), args.objects):  # the 128-pixel square cut into strips
        objects.append(np.zeros(image.shape[:2], bool))
        objects[-1][64:192, columns] = True
    request = GenerationRequest(image=image, region=np.logical_or.reduce(objects), text=None, duration=args.duration,
                                seed=0, steps=args.steps or info.default_steps, guidance=info.default_guidance,
                                objects=layers_of(objects))
    stages: dict[str, float] = {}
    last = [time.perf_counter()]

    def progress(stage: str, step: int, total: int) -> None:
        now = time.perf_counter()
        stages[stage] = stages.get(stage, 0.0) + now - last[0]
        last[0] = now

    generator.generate([request], progress)  # warm-up
    times = []
    for _ in range(args.repeats):
        stages.clear()
        last[0] = time.perf_counter()
        start = time.perf_counter()
        generator.generate([request], progress)
        times.append(time.perf_counter() - start)
    result = {
        "model": info.name, "device": args.device, "torch_threads": torch.get_num_threads(), "objects": args.objects,
        "duration_s": args.duration, "steps": request.steps, "guidance": request.guidance,
        "sampler": generator.config.sampler, "load_s": round(load_s, 4),
        "generate_s": {"median": round(float(np.median(times)), 4), "min": round(min(times), 4)},
        "real_time_factor": round(args.duration / float(np.median(times)), 2),
        "last_run_stages_s": {k: round(v, 4) for k, v in stages.items()},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 0
