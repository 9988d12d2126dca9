"""The ``sounding`` command: each subsystem registers its own subcommands (keeps this file free of their logic)."""
from __future__ import annotations

import argparse
import importlib
import sys

#: Modules with ``register(subparsers)``; each adds its subcommands and sets ``func`` (args -> exit code).
COMMAND_MODULES = (
    "sounding.server.commands",  # serve, generate, segment
    "sounding.training.commands",  # train
    "sounding.data.commands",  # data build
    "sounding.evaluation.commands",  # eval ...
    "sounding.bench",  # bench ...
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sounding", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
