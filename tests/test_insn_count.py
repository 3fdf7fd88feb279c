"""The aarch64 instruction-counting QEMU plugin counts a known loop exactly."""
from __future__ import annotations

import re
import subprocess
import time

import pytest

from edgemobilenet.device import insn_count
from edgemobilenet.errors import EdgembError

LOOP_C = r"""
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    syscall(%(marker)d, 1);
    __asm__ volatile("1: add x9, x9, #1\n\tadd x10, x10, #2\n\tsubs %%0, %%0, #1\n\tb.ne 1b\n"
                     : "+r"(n) : : "x9", "x10", "cc");
    syscall(%(marker)d, 2);
    if (argc > 2) for (;;) {}          /* spin: the time-limit case */
    return 0;
}
"""


@pytest.fixture(scope="module")
def loop_program(tmp_path_factory):
    d = tmp_path_factory.mktemp("loop")
    (d / "loop.c").write_text(LOOP_C % {"marker": insn_count.MARKER_SYSCALL})
    subprocess.run(["aarch64-linux-gnu-gcc", "-static", "-O2", "-o", str(d / "loop"),
                    str(d / "loop.c")], check=True, timeout=120)
    return d / "loop"


def _loop_length(program) -> int:
    """Instructions per iteration of the loop, read from its disassembly (target of the
    backward b.ne through the b.ne)."""
    dis = subprocess.run(["aarch64-linux-gnu-objdump", "-d", "--disassemble=main",
                          str(program)], capture_output=True, text=True, check=True).stdout
    insns = re.findall(r"^\s*([0-9a-f]+):\s+[0-9a-f]{8}\s+(\S+)\s*(\S*)", dis, re.M)
    addr = [int(a, 16) for a, _, _ in insns]
    (branch,) = [i for i, (_, op, _) in enumerate(insns) if op == "b.ne"]
    target = int(insns[branch][2], 16)
    return branch - addr.index(target) + 1


def test_counts_known_loop_exactly(loop_program):
    per_iter = _loop_length(loop_program)
    assert per_iter == 4
    totals, regions = {}, {}
    for n in (1000, 5000):
        _, c = insn_count.run_counted([str(loop_program), str(n)], "cortex-a72", timeout=60,
                                      what="loop")
        totals[n] = c.total
        (regions[n],) = c.between(1, 2)
    # two run lengths: everything but the loop cancels, exactly
    assert totals[5000] - totals[1000] == 4000 * per_iter
    # markers: the region is the loop plus a fixed few instructions of the syscall wrapper
    assert regions[5000] - regions[1000] == 4000 * per_iter
    assert 1000 * per_iter <= regions[1000] < 1000 * per_iter + 100
    assert insn_count.per_run(lambda k: totals[k], 1000, 5000) == per_iter


def test_time_limit_stops_the_guest(loop_program):
    t0 = time.monotonic()
    with pytest.raises(EdgembError, match="no result within 2 s"):
        insn_count.run_counted([str(loop_program), "10", "spin"], "cortex-a53", timeout=2)
    assert time.monotonic() - t0 < 10
    left = subprocess.run(["pgrep", "-f", f"{loop_program} 10 spin"], capture_output=True)
    assert left.returncode == 1, left.stdout


def test_bad_plugin_argument_is_refused(loop_program, tmp_path):
    r = subprocess.run([insn_count.qemu_user(), "-cpu", "cortex-a72", "-plugin",
                        f"{insn_count.plugin_path()},out={tmp_path / 'x'},bogus=1",
                        str(loop_program), "1"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "unknown argument" in r.stderr + r.stdout
