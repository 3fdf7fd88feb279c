"""The per-instruction profile plugin (qemu_plugins/tb_profile.c) behind tools/profile_mcu.py:
on a known loop every instruction's execution count is exact and lands in its function."""
from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest
from test_cm_cycles import _build

from edgemobilenet.device.insn_count import plugin_path

_spec = importlib.util.spec_from_file_location(
    "profile_mcu", Path(__file__).resolve().parents[1] / "tools" / "profile_mcu.py")
profile_mcu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(profile_mcu)

pytestmark = pytest.mark.needs("qemu-system-arm", "arm-none-eabi-gcc")


def test_profile_counts_a_known_loop_exactly(tmp_path):
    elf = _build("mps2-an386", tmp_path)
    out = tmp_path / "profile.txt"
    cmd = ["qemu-system-arm", "-M", "mps2-an386", "-kernel", str(elf), "-display", "none",
           "-monitor", "none", "-serial", "none", "-semihosting-config",
           "enable=on,target=native", "-icount", "shift=0",
           "-plugin", f"{plugin_path('tb_profile')},out={out}"]
    r = subprocess.run(cmd, capture_output=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()[-500:]
    counts = profile_mcu.read_profile(out)
    addrs, names = profile_mcu.symbols(elf)
    funcs = profile_mcu.by_function(counts, addrs, names)
    # known_loop: push, ldr =, movs, movs, bl; 100 x (ldr, smlad, subs, bne); bl, pop
    assert funcs["known_loop"] == 5 + 400 + 2
    assert funcs["plugin_mark"] == 2          # its bx lr, once per call
    dis = profile_mcu.disassembly(elf)
    loop = sorted(a for a, n in counts.items() if n == 100)
    assert [dis[a].split()[0] for a in loop] == ["ldr", "smlad", "subs", "bne.n"]
