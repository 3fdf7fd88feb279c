"""Board and CPU facts come from targets/*.toml: the LLVM target of TVM's Cortex-M kernels,
the kernel test firmware's flags, clock and linker script; code tests features."""
from __future__ import annotations

from pathlib import Path

from edgemobilenet.backends.mcu import kernel_check as kc
from edgemobilenet.backends.tvm.mcu import intrin, unpacked_api
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
