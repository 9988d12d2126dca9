"""``sounding data build``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sounding.data.sources import SOURCE_MODULES

#: Where ``sounding data build`` writes unless told otherwise (gitignored).
DEFAULT_DATA_DIR = Path("data/foley-mini")


def register(commands) -> None:
    build = commands["data"].add_parser("build", help="install the Debian packages and build Foley-Mini")
    build.add_argument("--out", type=Path, default=DEFAULT_DATA_DIR, help="dataset directory (default: %(default)s)")
    build.add_argument("--sources", nargs="+", default=None, choices=sorted(SOURCE_MODULES),
                       help="sources to build (default: all); see docs/data.md")
    build.add_argument("--skip-0ad", action="store_true",
                       help="leave out 0 A.D. (a 1.4 GB download); fewer classes and recordings, other splits")
    build.add_argument("--skip-renders", action="store_true",
                       help="do not render the Sweet Home 3D models in Blender (fewer pictures per class)")
    build.add_argument("--no-install", action="store_true",
                       help="never run apt-get; stop with the apt command to run when packages are missing")
    build.add_argument("--scenes-per-clip", type=float, default=None,
                       help="multi-object scenes per single-object clip of each split (default: 1)")
    build.add_argument("--train-only-pictures", action="store_true",
                       help="add a train row for each train-only picture (measured, no gain yet; docs/data.md)")
    build.set_defaults(func=_build)


def _build(args: argparse.Namespace) -> int:
    from sounding.data.build import BuildConfig, build_dataset
    from sounding.data.classes import TRAIN_ONLY_IMAGES
    from sounding.data.packages import MissingPackagesError

    config = BuildConfig(out=args.out, sources=args.sources, with_0ad=not args.skip_0ad,
                         install=not args.no_install, render_models=not args.skip_renders,
                         train_only_images=dict(TRAIN_ONLY_IMAGES) if args.train_only_pictures else {})
    if args.scenes_per_clip is not None:
        config.scenes_per_clip = args.scenes_per_clip
    try:
        manifest = build_dataset(config)
    except MissingPackagesError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"wrote {manifest}")
    return 0
