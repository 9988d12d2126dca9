"""The ``sounding`` command. Each subsystem registers its own subcommands, so this file holds no subsystem logic."""
from __future__ import annotations

import argparse
import importlib
import sys

#: Modules with ``register(commands: CommandGroups)``; each adds its subcommands to the groups it needs and sets
#: ``func`` (args -> exit code) on each parser it adds.
COMMAND_MODULES = (
    "sounding.server.commands",  # serve, generate, segment, bench protocol
    "sounding.training.commands",  # train, bench generate
    "sounding.segmentation.commands",  # eval segment, bench segment
    "sounding.data.commands",  # data build
    "sounding.evaluation.commands",  # eval judge, eval acc, eval generated
)
#: Subcommand groups ("sounding eval segment", "sounding bench protocol", ...).
GROUPS = {
    "data": "build and inspect the Foley-Mini dataset",
    "eval": "evaluate segmentation and generation",
    "bench": "benchmarks (results are printed and written as JSON)",
}


class CommandGroups(dict):
    """``commands["top"]`` holds top-level subcommands; ``commands["eval"]`` etc. hold a group's subcommands."""


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: torch's intra-op CPU threads, set by :func:`main` before the command runs. On a machine
    shared with other jobs, torch's default (one thread per core) oversubscribes the cores: a 2-core machine
    trained ~10x slower than with one thread."""
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sounding", description=__doc__)
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = CommandGroups(top=top)
    for group, help_text in GROUPS.items():
        group_parser = top.add_parser(group, help=help_text)
        commands[group] = group_parser.add_subparsers(dest=f"{group}_command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def _apply_threads(args: argparse.Namespace) -> None:
    threads = getattr(args, "threads", None)
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _apply_threads(args)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
