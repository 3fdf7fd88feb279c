"""The emulated Pi's root is made of Debian packages extracted over a merged /usr."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edgemobilenet.device import pi_emulator
from edgemobilenet.errors import EdgembError


def _deb(tmp: Path) -> Path:
    """A package shipping /bin/hello (older packages still install into /bin)."""
    pkg = tmp / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN/control").write_text("Package: hello\nVersion: 1\nArchitecture: arm64\n"
                                        "Maintainer: t <t@t>\nDescription: t\n")
    (pkg / "bin").mkdir()
    (pkg / "bin/hello").write_text("hi\n")
    subprocess.run(["dpkg-deb", "--build", str(pkg), str(tmp / "hello.deb")], check=True,
                   capture_output=True, timeout=60)
    return tmp / "hello.deb"


def test_packages_land_in_the_merged_usr(tmp_path):
    root = tmp_path / "root"
    pi_emulator._extract([_deb(tmp_path)], root, lambda _: None)
    assert (root / "bin").is_symlink() and (root / "usr/bin/hello").read_text() == "hi\n"


def test_a_broken_package_is_one_error_naming_it(tmp_path):
    bad = tmp_path / "broken_1_arm64.deb"
    bad.write_bytes(b"not a deb")
    with pytest.raises(EdgembError, match="broken_1_arm64.deb"):
        pi_emulator._extract([bad], tmp_path / "root", lambda _: None)
