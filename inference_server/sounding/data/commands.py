"""``sounding data build``."""
from __future__ import annotations

import argparse
from pathlib import Path

#: Where ``sounding data build`` writes unless told otherwise (gitignored).
DEFAULT_DATA_DIR = Path("data/foley-mini")


def register(commands) -> None:
    build = commands["data"].add_parser("build", help="install the Debian packages and build Foley-Mini")
    build.add_argument("--out", type=Path, default=DEFAULT_DATA_DIR, help="dataset directory (default: %(default)s)")
    build.add_argument("--sources", nargs="+", default=None,
                       help="sources to build (default: all but the optional ones); see docs/data.md")
    build.add_argument("--with-0ad", action="store_true", help="also build the 0 A.D. sources (1.4 GB download)")
    build.add_argument("--no-install", action="store_true", help="never run apt-get; skip missing packages")
    build.add_argument("--scenes", type=int, default=None, help="number of multi-object scenes per split scale")
    build.set_defaults(func=_build)


def _build(args: argparse.Namespace) -> int:
    from sounding.data.build import BuildConfig, build_dataset

    config = BuildConfig(out=args.out, sources=args.sources, with_0ad=args.with_0ad, install=not args.no_install)
    if args.scenes is not None:
        config.scenes_per_split = args.scenes
    manifest = build_dataset(config)
    print(f"wrote {manifest}")
    return 0
