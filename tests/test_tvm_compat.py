"""TVM internals are used in one module (backends/tvm/tvm_compat.py), which refuses a TVM
it was not checked against."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import edgemobilenet
from edgemobilenet.backends.tvm import tvm_compat
from edgemobilenet.errors import EdgembError

PKG = Path(edgemobilenet.__file__).resolve().parent
# private TVM fields and tricks; each must appear only in tvm_compat.py
INTERNALS = [r"\._inst\b", r"\._worker_map\b", r"\._proc\b", r"sys\.modules\[",
             r"s_tir\.transform\.LowerInitBlock", r"override=True", r"\b_normalize_mod\b"]


def test_version_check():
    tvm_compat.check_version(f"{tvm_compat.CHECKED}.0.post1")
    with pytest.raises(EdgembError, match=r"TVM 0\.28\.0 is installed.*checked against TVM 0\.27"):
        tvm_compat.check_version("0.28.0")
    with pytest.raises(EdgembError):
        tvm_compat.check_version("0.270.1")


def test_internals_only_in_tvm_compat():
    # backends/tvm/mcu/intrin.py re-registers its own intrinsics (override=True): allowed
    own = {"tvm_compat.py", "intrin.py"}
    found = [f"{p.relative_to(PKG)}: {pat}" for p in PKG.rglob("*.py")
             if p.name not in own for pat in INTERNALS if re.search(pat, p.read_text())]
    assert not found
    text = (PKG / "backends" / "tvm" / "tvm_compat.py").read_text()
    assert all(re.search(pat, text) for pat in INTERNALS)
