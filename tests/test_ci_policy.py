"""CI=true turns a test skipped for a missing program into a failure (tests/ci_policy.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("ci, status, word", [("", 0, "skipped"), ("true", 1, "error")])
def test_ci_turns_skips_into_failures(tmp_path, ci, status, word):
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\n@pytest.mark.needs('no-such-program-emb')\ndef test_a():\n    pass\n")
    env = {**os.environ, "CI": ci, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "ci_policy", "-p",
                        "no:cacheprovider", str(tmp_path / "test_x.py")], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == status, r.stdout + r.stderr
    assert f"1 {word}" in r.stdout
    if ci:
        assert "needs no-such-program-emb" in r.stdout
