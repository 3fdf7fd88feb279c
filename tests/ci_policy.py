"""pytest plugin (loaded by conftest.py): tests that need a toolchain, and CI's rule.

`@pytest.mark.needs("qemu-system-arm", ...)` (or a module's `pytestmark`) skips a test whose
programs are not on PATH. With `CI=true` in the environment (set by .ci/run) every skipped
test is a failure instead, naming what was missing: CI cannot pass by skipping a quarter
of the suite on a machine without QEMU.
"""
from __future__ import annotations

import os
import shutil

import pytest

CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs(*programs): skipped without these programs on PATH (fails in CI)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    missing = [p for m in item.iter_markers("needs") for p in m.args if shutil.which(p) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (tools/setup.sh installs it)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    rep = outcome.get_result()
    if CI and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"CI=true: skipped tests fail in CI: {reason}"
