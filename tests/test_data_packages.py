"""Package checks: a missing package and no permission to install gives the exact apt-get command."""
import os
import shutil

import pytest

from sounding.data.packages import MissingPackagesError, ensure_packages, install_command, is_installed


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian system")
def test_missing_package_without_install_names_the_command():
    with pytest.raises(MissingPackagesError) as raised:
        ensure_packages(["sounding-no-such-package-xyz"], install=False)
    assert "apt-get install -y --no-install-recommends" in str(raised.value)
    assert "sounding-no-such-package-xyz" in str(raised.value)


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian system")
def test_installed_packages_need_nothing():
    ensure_packages(["dpkg"], install=False)


def test_install_command_waits_for_the_dpkg_lock():
    command = install_command(["a", "b"])
    assert command[:2] == ["apt-get", "install"] and command[-2:] == ["a", "b"]
    assert "DPkg::Lock::Timeout=600" in command


@pytest.mark.parametrize("status, installed", [("install ok installed", True), ("unknown ok not-installed", False),
                                               ("deinstall ok config-files", False)])
def test_a_package_dpkg_knows_but_has_not_installed_is_missing(tmp_path, monkeypatch, status, installed):
    # dpkg-query prints "unknown ok not-installed" for a package once known (a dependency removed since); that
    # ends with "installed" too, which once let `sounding data build` skip installing librsvg2-bin
    fake = tmp_path / "dpkg-query"
    fake.write_text(f"#!/bin/sh\nprintf '%s' '{status}'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert is_installed("librsvg2-bin") is installed
