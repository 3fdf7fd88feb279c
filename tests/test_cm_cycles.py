"""The Cortex-M cycle-estimate plugin (qemu_plugins/cm_cycles.c) in qemu-system-arm: on a
known loop it counts every instruction and class exactly, sees which conditional branches
were taken, and its cycle figures follow the documented M4 / M7 tables."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edgemobilenet.backends.mcu import kernel_check as kc
from edgemobilenet.device import cycles
from edgemobilenet.targets import load_target

ROOT = Path(__file__).resolve().parents[1]
GUEST = ROOT / "qemu_plugins" / "tests" / "known_loop.c"
# between the two marks: BX LR, 100 x (LDR, SMLAD, SUBS, BNE), BL
WANT_CLASSES = {"load": 100, "mul_mac": 100, "alu": 100, "branch_cond": 100, "branch": 2}
# (est, low, high) from CORTEX_M_CYCLES.md:
# M4: loop block LDR 2|1|2 + SMLAD 1 + SUBS 1 + BNE 1, 99 taken BNE +2|+1|+3, BX / BL 3|2|4
# M7: loop block 4 (single issue) | 2 (2-wide floor) | 5, taken +1|+0|+3, BX / BL 2|1|4
WANT_CYCLES = {"mps2-an386": (704, 503, 805), "mps2-an500": (503, 202, 805)}


def _build(machine: str, out: Path) -> Path:
    elf = out / f"known_loop_{machine}.elf"
    tests = ROOT / "firmware" / "tests"
    cmd = ["arm-none-eabi-gcc", *kc.qemu_flags(machine, out), "-O2", "-nostartfiles",
           "--specs=nano.specs", "--specs=nosys.specs", str(GUEST), str(tests / "startup.c"),
           str(tests / "semihost_io.c"), "-o", str(elf)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return elf


@pytest.mark.parametrize("machine", list(WANT_CYCLES))
def test_plugin_counts_a_known_loop_exactly(machine, tmp_path):
    want = WANT_CYCLES[machine]
    table = load_target(machine).qemu.cycle_table
    elf = _build(machine, tmp_path)
    out = tmp_path / "cycles.txt"
    mark = cycles.symbol_address(elf, "plugin_mark")
    cmd = ["qemu-system-arm", "-M", machine, "-kernel", str(elf), "-display", "none",
           "-monitor", "none", "-serial", "none", "-semihosting-config",
           "enable=on,target=native", "-icount", "shift=0", *cycles.qemu_args(table, out, mark)]
    r = subprocess.run(cmd, capture_output=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()[-500:]
    log = cycles.CycleLog(out)
    marks, exit_ = log.read()
    assert len(marks) == 2 and exit_ is not None
    d = marks[1] - marks[0]
    assert d.instructions == 402 and d.taken == 99
    counts = dict(zip(log.classes, d.classes))
    assert {k: v for k, v in counts.items() if v} == WANT_CLASSES
    assert (d.est, d.low, d.high) == want
    assert exit_.instructions > marks[1].instructions
    assert sum(exit_.classes) == exit_.instructions
