"""Debian packages the sources read: check them, and install the missing ones when running as root."""
from __future__ import annotations

import os
import shlex
import subprocess


class MissingPackagesError(RuntimeError):
    """Packages are missing and could not be installed here; the message holds the exact command to run."""


def is_installed(package: str) -> bool:
    """dpkg's status words are "want ok state"; a package once known but removed reads "... not-installed"."""
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return result.returncode == 0 and result.stdout.split()[-1:] == ["installed"]


def install_command(packages: list[str]) -> list[str]:
    return ["apt-get", "install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600", *packages]


def ensure_packages(packages: list[str], install: bool = True) -> None:
    """Install what is missing (root only); otherwise raise with the command a root user should run."""
    missing = [package for package in dict.fromkeys(packages) if not is_installed(package)]
    if not missing:
        return
    command = install_command(missing)
    if not install or os.geteuid() != 0:
        raise MissingPackagesError(
            f"missing Debian packages: {' '.join(missing)}\nrun: sudo {shlex.join(command)}")
    print(f"installing {' '.join(missing)} ...", flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=environment)
    subprocess.run(command, check=True, env=environment)
