"""``sounding eval judge``, ``sounding eval acc``, ``sounding eval paired``, ``sounding eval generated``,
``sounding eval classes`` and ``sounding eval recognition``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from sounding.cli import add_threads_option
from sounding.data.commands import DEFAULT_DATA_DIR

#: Where the trained judge is written and read unless told otherwise.
DEFAULT_JUDGE_DIR = Path("data/judge")
#: The ImageNet weights ``sounding eval recognition`` scores unless told: around the shipped 0.5.
RECOGNITION_WEIGHTS = [0.0, 0.1, 0.5, 1.0]
#: The unsure thresholds it counts unless told: around the shipped 0.5.
RECOGNITION_UNSURE_BELOW = [0.4, 0.5, 0.6, 0.7]


def register(commands) -> None:
    judge = commands["eval"].add_parser("judge", help="train the judge on the train split, report held-out accuracy")
    judge.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="Foley-Mini directory")
    judge.add_argument("--out", type=Path, default=DEFAULT_JUDGE_DIR, help="judge directory (weights, config, metrics)")
    judge.add_argument("--epochs", type=int, default=None)
    judge.add_argument("--seed", type=int, default=0, help="member i trains with seed + i")
    judge.add_argument("--members", type=int, default=None,
                       help="nets whose probabilities the judge averages (default: JudgeConfig's)")
    judge.set_defaults(func=_judge)

    acc = commands["eval"].add_parser("acc", help="ACC: share of generated clips the judge assigns to their target")
    acc.add_argument("clips", type=Path, help="a manifest CSV (columns audio_path,label) or a folder of <label>/*.wav")
    acc.add_argument("--judge", type=Path, default=DEFAULT_JUDGE_DIR, help="judge directory")
    acc.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    acc.set_defaults(func=_acc)

    paired = commands["eval"].add_parser(
        "paired", help="two sets of clips for the same rows judged clip by clip, with the exact McNemar test")
    paired.add_argument("first", type=Path, help="a CSV or folder as for `eval acc` (e.g. runs/eval-a/mask.csv)")
    paired.add_argument("second", type=Path, help="the same rows' clips from another generator")
    paired.add_argument("--judge", type=Path, default=DEFAULT_JUDGE_DIR, help="judge directory")
    paired.set_defaults(func=_paired)

    generated = _generator_evaluation(
        commands, "generated", _generated,
        "generate clips for the test split (mask, text, two-object scenes) and judge them")
    generated.add_argument("--judge", type=Path, default=DEFAULT_JUDGE_DIR, help="judge directory")
    generated.add_argument("--out", type=Path, required=True, help="clips, <mode>.csv and metrics.json go here")
    generated.add_argument("--modes", nargs="+", default=None,
                           help="some of: mask text scenes (default: all; checked by the evaluation, so that this "
                                "parser does not import torch)")
    generated.add_argument("--limit", type=int, default=None,
                           help="only the first N rows (scenes: N scenes) of each mode, for a quick check")
    generated.add_argument("--segmenter", default=None,
                           help="regions from clicks segmented by this (a built-in name such as clicknet-learned, or "
                                "SAM weights) instead of the exact masks")
    generated.add_argument("--clicks", type=int, default=1,
                           help="clicks per object with --segmenter, placed by the standard protocol (default 1)")
    generated.add_argument("--seeds", type=int, default=1,
                           help="clips per row (or click), from clip seeds 0, 1, ...: less noise from the sampler")
    generated.add_argument("--split", default="test",
                           help="manifest split to score: test (default), val (to choose a training's length "
                                "without the test rows) or train")

    classes = _generator_evaluation(
        commands, "classes", _classes, "ask a model with an object prior for each of its classes by name and judge "
        "the clips (no pictures: the rendering alone), with their closeness to the train recordings")
    classes.add_argument("--judge", type=Path, default=DEFAULT_JUDGE_DIR, help="judge directory")
    classes.add_argument("--out", type=Path, required=True, help="clips and metrics.json go here")
    classes.add_argument("--seeds", type=int, default=4, help="clips per class, from clip seeds 0, 1, ...")

    recognition = _generator_evaluation(
        commands, "recognition", _recognition, "how often the object prior names a clicked object's class, per "
        "ImageNet weight (train rows with their own picture left out of the class means, val, test; no audio)")
    recognition.add_argument("--weights", type=float, nargs="+", default=RECOGNITION_WEIGHTS,
                             help="ImageNet weights to score (default: %(default)s)")
    recognition.add_argument("--unsure-below", type=float, nargs="*", default=RECOGNITION_UNSURE_BELOW,
                             help="thresholds whose unsure flags to count (default: %(default)s)")
    recognition.add_argument("--out", type=Path, default=None, help="write the result as JSON here")


def _generator_evaluation(commands, name: str, func, description: str) -> argparse.ArgumentParser:
    """An ``eval`` subcommand that scores a generator: ``--model``, ``--data`` and ``--threads`` come with it."""
    parser = commands["eval"].add_parser(name, help=description)
    parser.add_argument("--model", default="foley-mini", help="named config or model directory")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="Foley-Mini directory")
    add_threads_option(parser)
    parser.set_defaults(func=func)
    return parser


def _judge(args: argparse.Namespace) -> int:
    from sounding.evaluation.judge import JudgeTrainConfig, train_judge

    config = JudgeTrainConfig(seed=args.seed)
    if args.epochs is not None:
        config.epochs = args.epochs
    if args.members is not None:
        config.model["members"] = args.members
    metrics = train_judge(args.data, args.out, config)
    print(json.dumps(metrics, indent=2))
    return 0


def _acc(args: argparse.Namespace) -> int:
    from sounding.evaluation.acc import evaluate_acc

    _report(evaluate_acc(args.clips, args.judge).to_dict(), args.out)
    return 0


def _report(result: dict, out: Path | None) -> None:
    """Print a result as JSON, and write it to ``out`` too when given."""
    text = json.dumps(result, indent=2)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def _paired(args: argparse.Namespace) -> int:
    from sounding.evaluation.paired import compare

    print(json.dumps(compare(args.first, args.second, args.judge).to_dict(), indent=2))
    return 0


def _generated(args: argparse.Namespace) -> int:
    from sounding.evaluation.generated import MODES, evaluate_generated

    evaluate_generated(args.model, args.data, args.judge, args.out, tuple(args.modes or MODES), args.limit,
                       args.segmenter, args.clicks, args.seeds, args.split)
    return 0


def _classes(args: argparse.Namespace) -> int:
    from sounding.evaluation.classes import evaluate_classes

    metrics = evaluate_classes(args.model, args.data, args.judge, args.out, args.seeds)
    print(json.dumps(metrics["summary"], indent=2))
    return 0


def _recognition(args: argparse.Namespace) -> int:
    from sounding.evaluation.recognition import evaluate_recognition

    _report(evaluate_recognition(args.model, args.data, args.weights, args.unsure_below), args.out)
    return 0
