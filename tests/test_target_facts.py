"""Board and CPU facts come from targets/*.toml: the LLVM target of TVM's Cortex-M kernels,
the kernel test firmware's flags, clock and linker script; code tests features."""
from __future__ import annotations

from pathlib import Path

import pytest

from edgemobilenet.backends.mcu import kernel_check as kc
from edgemobilenet.backends.tvm.mcu import intrin, unpacked_api
from edgemobilenet.errors import EdgembError
from edgemobilenet.targets import TARGETS_DIR, list_targets, load_target


def test_every_mcu_target_names_its_llvm_target():
    for t in list_targets():
        if t.kind == "mcu":
            assert t.llvm is not None, t.name
            tt = unpacked_api.mcu_target(t)
            assert str(tt.attrs["mtriple"]) == t.llvm.mtriple and str(tt.attrs["mcpu"]) == t.cpu
            assert intrin.has_feature(tt, "mve") == ("+mve" in t.llvm.mattr)


def test_test_firmware_memory_map_is_generated_from_the_target():
    t = kc.qemu_target("mps2-an386")
    script = kc.linker_script(t)
    assert f"ORIGIN = {t.memory.ram_origin:#010x}, LENGTH = {t.memory.ram_length:#x}" in script
    assert "POOL (rw)  : ORIGIN = 0x21000000, LENGTH = 0x1000000" in script
    assert f"-DTB_TICK_HZ={t.clock_hz}" in kc.qemu_flags("mps2-an386", Path("/tmp"))


def test_features_not_names(tmp_path):
    """A board file with another name but the M55's [llvm] attributes gets the MVE paths."""
    text = (TARGETS_DIR / "mps2-an386.toml").read_text()
    text = text.replace('name = "mps2-an386"', 'name = "my-board"').replace(
        'mattr = ["+dsp"]', 'mattr = ["+mve"]')
    (tmp_path / "my-board.toml").write_text(text)
    tt = unpacked_api.mcu_target(load_target(tmp_path / "my-board.toml"))
    assert intrin.has_feature(tt, "mve") and not intrin.has_feature(tt, "dsp")


def test_core_facts_live_in_the_target_files(tmp_path):
    """The emulated Pi's /proc/cpuinfo and the cycle-estimate table come from the target."""
    from edgemobilenet.device import cycles, pi_emulator

    for t in list_targets():
        if t.kind == "linux" and "qemu" in t.extra:
            assert t.cpuinfo is not None, t.name
    text = pi_emulator._cpuinfo(load_target("rpi4").cpuinfo)
    assert text.count("CPU part\t: 0xd08\n") == 4 and "asimddp" not in text
    assert "asimddp" in pi_emulator._cpuinfo(load_target("rpi5").cpuinfo)
    args = cycles.qemu_args(load_target("mps2-an500").qemu.cycle_table, tmp_path / "c", None)
    assert args[1].endswith(",cpu=m7")
    bad = (TARGETS_DIR / "mps2-an386.toml").read_text().replace(
        'name = "mps2-an386"', 'name = "odd"').replace('cycle_table = "m4"', 'cycle_table = "m3"')
    (tmp_path / "odd.toml").write_text(bad)
    with pytest.raises(EdgembError, match="qemu.cycle_table' must be one of m4, m7"):
        load_target(tmp_path / "odd.toml")
