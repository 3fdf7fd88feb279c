"""C kernels cross-compiled for Cortex-M and run in QEMU, bit-exact against the numpy
reference: portable and DSP on mps2-an386 (Cortex-M4), DSP on mps2-an500 (Cortex-M7), MVE on
mps3-an547 (Cortex-M55); DSP also with compact (int8) pointwise weights.
Same cases as tests/test_kernels.py, vectors passed by semihosting file I/O."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from test_kernels import kernel_cases

from edgemobilenet.backends.mcu import kernel_check as kc

pytestmark = pytest.mark.skipif(not (shutil.which("qemu-system-arm")
                                     and shutil.which("arm-none-eabi-gcc")),
                                reason="qemu-system-arm / arm-none-eabi-gcc not installed")


@pytest.mark.parametrize("variant,machine,compact", [
    ("portable", "mps2-an386", False), ("dsp", "mps2-an386", False),
    ("dsp", "mps2-an386", True), ("dsp", "mps2-an500", False), ("mve", "mps3-an547", False)])
def test_kernels_match_reference_in_qemu(variant, machine, compact, tmp_path):
    driver = kc.build_qemu(variant, machine, tmp_path)
    calls, want = kernel_cases(variant, compact=compact)
    got = kc.run(driver, calls, timeout=120)
    bad = [c.label for c, r, y in zip(calls, got, want) if not np.array_equal(r.output, y)]
    assert not bad, f"{variant} on {machine}: {len(bad)}/{len(calls)} cases differ: {bad}"
    conv = [r.instructions for c, r in zip(calls, got) if c.op == "conv2d"]
    assert min(conv) > 0          # SysTick instruction counting works
