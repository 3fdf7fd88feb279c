"""Child processes under a time limit. Each runs in a session of its own; past its limit, or
when the caller is interrupted, the whole process group is killed (the children of a
compiler driver or of make too), so nothing is left running."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from edgemobilenet.errors import EdgembError

COMPILE_TIMEOUT_S = 900.0   # a compiler, linker or make run
TOOL_TIMEOUT_S = 120.0      # readelf, nm and the like


def run(cmd: list[str], what: str, timeout: float, *, input: str | bytes | None = None,
        text: bool = True, **kw: Any) -> subprocess.CompletedProcess:
    """`subprocess.run(cmd, capture_output=True)` within `timeout` s. A missing program or
    the limit is an EdgembError naming `what`; the exit status is the caller's to judge."""
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text, start_new_session=True,
            **kw)
    except FileNotFoundError:
        raise EdgembError(f"{what}: '{cmd[0]}' is not installed") from None
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EdgembError(f"{what}: {Path(cmd[0]).name} did not finish within "
                          f"{timeout:.0f} s (stopped)") from None
    finally:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
