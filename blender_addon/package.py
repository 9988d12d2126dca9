"""Build the Sounding Blender extension zips (``python3 build.py addon`` runs this with the project's venv Python).

1. Stage ``blender_addon/extension/`` into a build folder and vendor ``shared/sounding_protocol`` into it as the
   sub-package ``sounding_protocol`` (imported relatively, so there is never a second copy in the repo).
2. Download the pyzmq wheels for every platform Blender ships on (cached in ``build/addon-wheels/<python>``; never
   committed), list them in the staged ``blender_manifest.toml`` and set its Blender versions.
3. Build the zip with Blender's own extension tool and validate it.

One zip per Python that Blender versions embed (``TARGETS``): Blender reads the Python versions an extension supports
from its wheels' tags, and a zip holding both cp311 and abi3 wheels counts as 3.11 only, so Blender 5.1+ (Python
3.13) would refuse it.

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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "blender_addon" / "extension"
PROTOCOL = ROOT / "shared" / "sounding_protocol"
BUILD = ROOT / "build" / "addon"
WHEEL_CACHE = ROOT / "build" / "addon-wheels"
PYZMQ = "pyzmq==27.3.0"
#: pip --platform tags of the platforms Blender ships on; pyzmq has one universal2 wheel for both macOS targets.
PLATFORM_TAGS = (
    ("manylinux_2_28_x86_64",),
    ("macosx_11_0_arm64",),
    ("macosx_10_15_x86_64",),
    ("win_amd64",),
)


@dataclass(frozen=True)
class BlenderTarget:
    """The Blender versions whose embedded Python takes the same pyzmq wheels: one zip."""

    name: str  # the zip's suffix
    python: str  # pip --python-version of the wheels
    blender_min: str
    blender_max: str | None = None  # the first version not supported (the manifest's meaning), None: no limit


#: Blender 4.5/5.0 embed Python 3.11 (pyzmq's cp311 wheels); 5.1+ embed 3.13, which takes pyzmq's abi3 cp312 wheels.
TARGETS = (
    BlenderTarget("blender4.5", "3.11", "4.5.0", "5.1.0"),
    BlenderTarget("blender5.1", "3.13", "5.1.0"),
)
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


def target_for(python: tuple[int, int]) -> BlenderTarget:
    """The target whose Blender versions embed this Python (``sys.version_info[:2]``)."""
    wanted = "{}.{}".format(*python[:2])
    for target in TARGETS:
        if target.python == wanted:
            return target
    sys.exit(f"No Blender version embeds Python {wanted}; the add-on targets {[t.python for t in TARGETS]}")


def download_wheels(cache: Path, python: str) -> list[Path]:
    """pyzmq wheels for every platform and one Python, downloaded once into ``cache`` (a stamp says what it holds)."""
    stamp = cache / "targets.txt"
    wanted = f"{PYZMQ} {python} {PLATFORM_TAGS}"
    if stamp.is_file() and stamp.read_text() == wanted:
        return sorted(cache.glob("pyzmq-*.whl"))
    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    for platforms in PLATFORM_TAGS:
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


def set_blender_versions(staged: Path, target: BlenderTarget) -> None:
    """Replace the staged manifest's ``blender_version_min`` line with the target's range."""
    manifest = staged / "blender_manifest.toml"
    text = manifest.read_text()
    line = re.search(r'^blender_version_min = "[^"]*"$', text, re.MULTILINE)
    if line is None:
        sys.exit(f"{SOURCE / manifest.name} has no blender_version_min line to set per target")
    versions = f'blender_version_min = "{target.blender_min}"'
    if target.blender_max is not None:
        versions += f'\nblender_version_max = "{target.blender_max}"'
    manifest.write_text(text[:line.start()] + versions + text[line.end():])


def build(output_dir: Path, build_dir: Path = BUILD, targets: tuple[BlenderTarget, ...] = TARGETS) -> list[Path]:
    """Stage, add wheels, build and validate one zip per target; returns their paths in the targets' order."""
    output_dir.mkdir(parents=True, exist_ok=True)
    tool = blender_ext_script()
    zips = []
    for target in targets:
        staged = stage(build_dir / target.name / "sounding")
        add_wheels(staged, download_wheels(WHEEL_CACHE / target.python, target.python))
        set_blender_versions(staged, target)
        manifest = tomllib.loads((staged / "blender_manifest.toml").read_text())
        zip_path = output_dir / f"{manifest['id']}-{manifest['version']}-{target.name}.zip"
        subprocess.run([sys.executable, str(tool), "build", "--source-dir", str(staged),
                        "--output-filepath", str(zip_path)], check=True)
        subprocess.run([sys.executable, str(tool), "validate", str(zip_path)], check=True)
        zips.append(zip_path)
    return zips


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    for zip_path in build(args.output_dir):
        print(zip_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
