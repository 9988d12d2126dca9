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
    "sounding.evaluation.commands",  # eval judge, eval acc
)
#: Subcommand groups ("sounding eval segment", "sounding bench protocol", ...).
GROUPS = {
    "data": "build and inspect the Foley-Mini dataset",
    "eval": "evaluate segmentation and generation",
    "bench": "benchmarks (results are printed and written as JSON)",
}


class CommandGroups(dict):
    """``commands["top"]`` holds top-level subcommands; ``commands["eval"]`` etc. hold a group's subcommands."""


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
