"""Build the Sounding Blender extension zip (``python3 build.py addon`` runs this with the project's venv Python).

1. Stage ``blender_addon/extension/`` into a build folder and vendor ``shared/sounding_protocol`` into it as the
   sub-package ``sounding_protocol`` (imported relatively, so there is never a second copy in the repo).
2. Download the pyzmq wheels for every platform Blender ships on (cached in ``build/addon-wheels``; never committed)
   and list them in the staged ``blender_manifest.toml``.
3. Build the zip with Blender's own extension tool and validate it.

    python blender_addon/package.py [--output-dir dist]
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "blender_addon" / "extension"
PROTOCOL = ROOT / "shared" / "sounding_protocol"
BUILD = ROOT / "build" / "addon"
WHEEL_CACHE = ROOT / "build" / "addon-wheels"
PYZMQ = "pyzmq==27.3.0"
#: (pip --platform tags, pip --python-version): Blender 4.5/5.0 run Python 3.11 (cp311 wheels); 5.1+ run 3.13, which
#: takes pyzmq's abi3 cp312 wheel. pyzmq ships one universal2 wheel for both macOS targets: 6 wheels in all.
WHEEL_TARGETS = [
    (platforms, python)
    for platforms in (
        ("manylinux_2_28_x86_64",),
        ("macosx_11_0_arm64",),
        ("macosx_10_15_x86_64",),
        ("win_amd64",),
    )
    for python in ("3.11", "3.12")
]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")
#: An absolute self-import would make the vendored copy load whatever ``sounding_protocol`` Blender's Python has.
ABSOLUTE_SELF_IMPORT = re.compile(r"^\s*(from|import)\s+sounding_protocol\b", re.MULTILINE)


def blender_ext_script() -> Path:
    """Blender's extension command line tool inside the installed ``bpy`` package (found without importing bpy)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("package.py needs the bpy package (pip install bpy) for Blender's extension build tool")
    bpy_dir = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(bpy_dir.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        sys.exit(f"Blender's extension tool (blender_ext.py) is missing under {bpy_dir}")
    return found[-1]


def stage(dest: Path) -> Path:
    """A complete extension source tree in ``dest`` (replaced if present), protocol vendored, no wheels yet."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(SOURCE, dest, ignore=IGNORE)
    if not (PROTOCOL / "__init__.py").is_file():
        sys.exit(f"{PROTOCOL} is not a package: the add-on vendors the protocol package from there")
    vendor_protocol(dest / "sounding_protocol")
    return dest


def vendor_protocol(dest: Path) -> None:
    """Copy the protocol package to ``dest``; its modules must import each other relatively."""
    shutil.copytree(PROTOCOL, dest, ignore=IGNORE)
    for path in dest.rglob("*.py"):
        if ABSOLUTE_SELF_IMPORT.search(path.read_text()):
            sys.exit(f"{PROTOCOL / path.relative_to(dest)} imports sounding_protocol absolutely: the add-on vendors "
                     "the package under its own name, so its modules must import each other relatively")


def download_wheels(cache: Path) -> list[Path]:
    """pyzmq wheels for every target, downloaded once into ``cache`` (a stamp records what it holds)."""
    stamp = cache / "targets.txt"
    wanted = f"{PYZMQ} {WHEEL_TARGETS}"
    if stamp.is_file() and stamp.read_text() == wanted:
        return sorted(cache.glob("pyzmq-*.whl"))
    cache.mkdir(parents=True, exist_ok=True)
    for platforms, python in WHEEL_TARGETS:
        platform_args = [arg for tag in platforms for arg in ("--platform", tag)]
        subprocess.run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
                        "--only-binary=:all:", "--no-deps", "--implementation", "cp", "--python-version", python,
                        *platform_args, "--dest", str(cache), PYZMQ], check=True)
    stamp.write_text(wanted)
    return sorted(cache.glob("pyzmq-*.whl"))


def add_wheels(staged: Path, wheels: list[Path]) -> None:
    """Copy ``wheels`` into ``staged/wheels`` and list them in the staged manifest."""
    (staged / "wheels").mkdir()
    for wheel in wheels:
        shutil.copy2(wheel, staged / "wheels" / wheel.name)
    listing = ", ".join(f'"./wheels/{wheel.name}"' for wheel in wheels)
    manifest = staged / "blender_manifest.toml"
    text = manifest.read_text()
    head, sep, tail = text.partition("\n[permissions]")
    manifest.write_text(f"{head.rstrip()}\n\nwheels = [{listing}]\n{sep}{tail}")


def build(output_dir: Path, build_dir: Path = BUILD) -> Path:
    """Stage, add wheels, build and validate; returns the zip's path."""
    staged = stage(build_dir / "sounding")
    add_wheels(staged, download_wheels(WHEEL_CACHE))
    output_dir.mkdir(parents=True, exist_ok=True)
    tool = blender_ext_script()
    manifest = tomllib.loads((staged / "blender_manifest.toml").read_text())
    zip_path = output_dir / f"{manifest['id']}-{manifest['version']}.zip"
    subprocess.run([sys.executable, str(tool), "build", "--source-dir", str(staged),
                    "--output-filepath", str(zip_path)], check=True)
    subprocess.run([sys.executable, str(tool), "validate", str(zip_path)], check=True)
    return zip_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    print(build(args.output_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
