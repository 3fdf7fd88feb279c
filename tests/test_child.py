"""Child processes under a time limit (`edgemobilenet.child`): past the limit the whole group
is stopped, a compiler driver's children too."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from edgemobilenet import child
from edgemobilenet.backends.tvm.build import shared_library_compiler
from edgemobilenet.errors import EdgembError


def _gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "\nState:\tZ" in status.read_text()


def test_time_limit_stops_the_whole_group(tmp_path):
    pidfile = tmp_path / "pid"
    t = time.monotonic()
    with pytest.raises(EdgembError, match=r"^sleeper: sh did not finish within 1 s"):
        child.run(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], "sleeper", 1)
    assert time.monotonic() - t < 20   # not the grandchild's 60 s
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(pid)


def test_output_status_and_missing_program(tmp_path):
    r = child.run(["sh", "-c", "cat; echo err >&2; exit 3"], "x", 10, input="in")
    assert (r.returncode, r.stdout, r.stderr) == (3, "in", "err\n")
    with pytest.raises(EdgembError, match="^y: 'no-such-tool-x' is not installed$"):
        child.run(["no-such-tool-x"], "y", 10)


def test_a_hung_linker_ends_in_one_line(tmp_path, monkeypatch):
    slow = tmp_path / "slow-cc"
    slow.write_text("#!/bin/sh\nsleep 60\n")
    slow.chmod(0o755)
    monkeypatch.setattr(child, "COMPILE_TIMEOUT_S", 1.0)
    out = str(tmp_path / "lib.so")
    with pytest.raises(EdgembError, match=f"^{out}: slow-cc did not finish within 1 s"):
        shared_library_compiler(str(slow))(out, ["a.o"])
