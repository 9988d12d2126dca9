"""Package checks: a missing package and no permission to install gives the exact apt-get command."""
import shutil

import pytest

from sounding.data.packages import MissingPackagesError, ensure_packages, install_command


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
