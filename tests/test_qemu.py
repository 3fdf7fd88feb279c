"""The QEMU launcher: start, stop by PID, errors inside the block, a faulting guest and a
hung guest give clear errors, and no QEMU is left running."""
from __future__ import annotations

import os
import time

import pytest
from dummy_firmware import dummy_elf, dummy_inputs  # noqa: F401

from edgemobilenet.device.mcu import Device
from edgemobilenet.device.qemu import emulate, qemu_command
from edgemobilenet.errors import EdgembError
from edgemobilenet.targets import load_target


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_command_line_comes_from_the_target(tmp_path):
    cmd = qemu_command(load_target("mps3-an547"), tmp_path / "fw.elf", 4321)
    assert cmd[:3] == ["qemu-system-arm", "-M", "mps3-an547"]
    assert "tcp:127.0.0.1:4321,server=on,wait=on" in cmd and "shift=0" in cmd


def test_start_and_stop_leaves_no_qemu(dummy_elf):  # noqa: F811
    with emulate(load_target("mps2-an386"), dummy_elf("mps2-an386")) as emu:
        pid = emu.pid
        assert _alive(pid) and Device(emu.link).info().num_layers == 3
    assert not _alive(pid)


def test_error_in_block_still_stops_qemu(dummy_elf):  # noqa: F811
    with pytest.raises(RuntimeError, match="boom"):
        with emulate(load_target("mps2-an386"), dummy_elf("mps2-an386")) as emu:
            pid = emu.pid
            raise RuntimeError("boom")
    assert not _alive(pid)


def test_guest_fault_is_a_clear_error(dummy_elf):  # noqa: F811
    x = dummy_inputs(1)[0].copy()
    x.flat[:2] = 0x7E                                   # the misbehaving dummy faults
    with emulate(load_target("mps2-an386"), dummy_elf("mps2-an386", misbehave=True)) as emu:
        pid = emu.pid
        dev = Device(emu.link, timeout=1.0, run_timeout=2.0, retries=1)
        dev.set_input(x)
        with pytest.raises(EdgembError, match="qemu mps2-an386 stopped: the guest faulted"):
            dev.invoke()
    assert not _alive(pid)


def test_hung_guest_times_out_and_is_killed(dummy_elf):  # noqa: F811
    x = dummy_inputs(1)[0].copy()
    x.flat[:2] = 0x7D                                   # the misbehaving dummy never returns
    t0 = time.monotonic()
    with emulate(load_target("mps2-an386"), dummy_elf("mps2-an386", misbehave=True)) as emu:
        pid = emu.pid
        dev = Device(emu.link, timeout=1.0, run_timeout=0.5, retries=1)
        dev.set_input(x)
        with pytest.raises(EdgembError, match="did not answer command 0x03 after 2 tries"):
            dev.invoke()
    assert not _alive(pid) and time.monotonic() - t0 < 20


def test_unusable_inputs_are_one_line_errors(tmp_path, dummy_elf):  # noqa: F811
    with pytest.raises(EdgembError, match="no such firmware file"):
        with emulate(load_target("mps2-an386"), tmp_path / "missing.elf"):
            pass
    with pytest.raises(EdgembError, match="cannot be emulated"):
        with emulate(load_target("nucleo-h743zi"), dummy_elf("mps2-an386")):
            pass
    junk = tmp_path / "junk.elf"
    junk.write_bytes(b"not an elf")
    with pytest.raises(EdgembError, match="qemu mps2-an386 stopped|did not answer"):
        with emulate(load_target("mps2-an386"), junk) as emu:
            Device(emu.link, timeout=0.5, retries=0)
