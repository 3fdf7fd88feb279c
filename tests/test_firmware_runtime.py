"""The firmware runtime and its protocol, end to end in QEMU on two machines (Cortex-M4
mps2-an386 and Cortex-M55 mps3-an547) with the dummy model; and compile checks for the
real-board layer."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
from dummy_firmware import DUMMY, DUMMY_HASH, dummy_elf, dummy_inputs, dummy_layers  # noqa: F401

from edgemobilenet.device import protocol as P
from edgemobilenet.device.firmware import build_firmware
from edgemobilenet.device.protocol import DeviceError
from edgemobilenet.device.transport import open_device
from edgemobilenet.errors import EdgembError
from edgemobilenet.targets import load_target

MACHINES = ["mps2-an386", "mps3-an547"]


@pytest.mark.parametrize("name", MACHINES)
def test_protocol_end_to_end(name, dummy_elf):  # noqa: F811
    target = load_target(name)
    xs = dummy_inputs(3)
    with open_device(target, dummy_elf(name), expected_hash=DUMMY_HASH) as dev:
        info = dev.info()
        # SysTick counts at the target clock: a reading is exact up to one of its periods
        tol = -(-info.clock_hz // target.clock_hz)
        assert (info.input_shape, info.output_shape) == ((1, 16, 16, 3), (1, 16, 16, 1))
        assert (info.input_zero_point, info.output_scale, info.num_layers) == (-3, 0.25, 3)
        assert info.clock_unit == "instructions" and info.clock_hz == 10**9 and info.semihosting
        assert info.stack_size == target.memory.stack_bytes
        assert dev.ping(bytes(range(256)) * 2) == bytes(range(256)) * 2   # a full payload

        outs, ticks = [], []
        for x in xs:
            y, t = dev.run(x)
            outs.append(y)
            ticks.append(t)
            assert np.array_equal(y.ravel(), dummy_layers(x)[2])
        y0, t0 = dev.run(xs[0])                          # same input: same instructions
        assert np.array_equal(y0, outs[0]) and abs(t0 - ticks[0]) <= tol and t0 > 1000
        prof = dev.layer_profile()
        assert len(prof) == 3 and all(p > 0 for p in prof) and sum(prof) <= t0
        assert prof[1] > prof[2]            # 768 multiplies vs 256 sums of three

        t_again = dev.invoke()              # the input buffer was consumed: sent again
        assert abs(t_again - t0) <= tol and np.array_equal(dev.get_output(), y0)
        for layer, want in enumerate(dummy_layers(xs[1])):
            dev.set_input(xs[1])
            assert np.array_equal(dev.get_tensor(layer), want)
        used = dev.stack_high_water()
        assert 0 < used < info.stack_size

        ys, total = dev.batch(xs)           # semihosting path: same outputs, same work
        assert np.array_equal(ys, np.stack(outs))
        assert 0 <= sum(ticks) - total < 0.05 * total   # invoke adds per-layer clock reads
        assert dev.session.resyncs == 0


@pytest.mark.parametrize("name", MACHINES[:1])
def test_device_errors_and_recovery(name, dummy_elf):  # noqa: F811
    target = load_target(name)
    with open_device(target, dummy_elf(name)) as dev:
        s = dev.session
        with pytest.raises(DeviceError, match="out of order") as e:
            s.request(P.CMD_GET_OUTPUT, bytes(6))            # nothing has run yet
        assert e.value.code == P.ERR_ORDER
        with pytest.raises(DeviceError, match="unknown command"):
            s.request(0x42)
        with pytest.raises(DeviceError, match="bad payload"):
            s.request(P.CMD_INVOKE, b"x")
        with pytest.raises(DeviceError, match="chunk out of order"):
            s.request(P.CMD_SET_INPUT, (100).to_bytes(4, "little") + b"ab")
        with pytest.raises(DeviceError, match="beyond the input"):
            s.request(P.CMD_SET_INPUT, (767).to_bytes(4, "little") + b"ab")
        with pytest.raises(DeviceError, match="no complete input"):
            s.request(P.CMD_INVOKE)
        dev.set_input(dummy_inputs(1)[0])
        with pytest.raises(DeviceError, match="no such layer"):
            dev.get_tensor(3)
        with pytest.raises(DeviceError, match="no profiled run"):
            dev.layer_profile()
        with pytest.raises(EdgembError, match="input has 5 bytes"):
            dev.set_input(b"12345")

        # raw garbage, a bad CRC and an oversized header: error frames, and it keeps serving
        link = s.link
        bad = bytearray(P.encode_frame(P.CMD_PING, 9, b"hello"))
        bad[-1] ^= 0xFF
        link.write(b"\x00\xff\xa5junk" + bytes(bad)
                   + b"\xa5\x5a" + (P.MAX_PAYLOAD + 1).to_bytes(2, "little") + b"\x00\x0a")
        reader, errors = P.FrameReader(), []
        while len(errors) < 2:
            errors += [f for f in reader.feed(link.read(1.0)) if f.cmd == P.ERROR]
        got = sorted((f.payload[0], f.seq) for f in errors)
        assert got == [(P.ERR_CRC, 9), (P.ERR_TOO_LONG, 10)]
        assert dev.ping(b"still here") == b"still here"

        # a header that promises a long frame swallows the next request: the host times
        # out, flushes the line and resends (bounded retries)
        s.timeout = 0.5
        link.write(b"\xa5\x5a" + (P.MAX_PAYLOAD).to_bytes(2, "little") + b"\x00\x01")
        assert dev.ping(b"after resync") == b"after resync" and s.resyncs >= 1
        y, _ = dev.run(dummy_inputs(1)[0])
        assert np.array_equal(y.ravel(), dummy_layers(dummy_inputs(1)[0])[2])

        # a retried request (same seq, the reply was lost) is answered again, not re-run
        frame = P.encode_frame(P.CMD_INVOKE, 77)
        dev.set_input(dummy_inputs(1)[0])
        link.write(frame + frame)
        reader, replies = P.FrameReader(), []
        while len(replies) < 2:
            replies += reader.feed(link.read(1.0))
        assert [f.cmd for f in replies] == [P.CMD_INVOKE | P.REPLY] * 2
        assert replies[0].payload == replies[1].payload


@pytest.mark.parametrize("name", MACHINES[:1])
def test_hostile_frames_then_every_request_gets_its_own_answer(name, dummy_elf):  # noqa: F811
    """Random bytes, valid-CRC frames with random commands and seqs, huge lengths and
    truncated frames on the line: the device answers them (errors, even replies), and the
    40 requests after still each get their own answer, never a stale one."""
    rng = np.random.default_rng(11)
    with open_device(load_target(name), dummy_elf(name)) as dev:
        s, link = dev.session, dev.session.link
        s.timeout = 0.5
        for _ in range(4):
            junk = [bytes(rng.integers(0, 256, 64, dtype="u1"))]
            for _ in range(12):
                cmd = int(rng.choice([P.CMD_PING, P.CMD_INFO, P.CMD_GET_STACK, P.CMD_INVOKE,
                                      P.CMD_GET_OUTPUT, *range(0x09, 0x80, 7)]))
                # seqs the next requests will not use: a frame with the seq and command of a
                # request still to come is that request, as far as any protocol can tell
                seq = (s.seq + 64 + int(rng.integers(160))) & 0xFF
                junk.append(P.encode_frame(cmd, seq,
                                           bytes(rng.integers(0, 256, int(rng.integers(8)),
                                                              dtype="u1"))))
            junk.append(b"\xa5\x5a" + (P.MAX_PAYLOAD + 77).to_bytes(2, "little") + b"\x00\x03")
            junk.append(P.encode_frame(P.CMD_PING, (s.seq + 240) & 0xFF, b"x" * 60)[:30])
            link.write(b"".join(junk))
            for i in range(10):
                payload = f"ping {i} {rng.integers(1 << 30)}".encode()
                assert dev.ping(payload) == payload
        assert s.stale > 0
        y, _ = dev.run(dummy_inputs(1)[0])
        assert np.array_equal(y.ravel(), dummy_layers(dummy_inputs(1)[0])[2])


def test_wrong_model_hash_is_refused(dummy_elf):  # noqa: F811
    with pytest.raises(EdgembError, match="runs model d0d0d0d0d0d0, expected 0123456789ab"):
        with open_device(load_target("mps2-an386"), dummy_elf("mps2-an386"),
                         expected_hash="0123456789ab" * 5 + "cdef"):
            pass


@pytest.mark.parametrize("name", ["nucleo-l4r5zi", "stm32f746g-disco"])
def test_real_board_firmware_links_at_the_target_regions(name, tmp_path):
    target = load_target(name)
    elf = build_firmware(target, [DUMMY], tmp_path, kernel_sources=[])
    syms = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True,
                          check=True).stdout
    addr = {line.split()[-1]: int(line.split()[0], 16) for line in syms.splitlines()
            if len(line.split()) == 3}
    assert addr["emb_vectors"] == target.memory.flash_origin
    assert addr["__stack_end"] == target.memory.ram_origin + target.memory.ram_length
    code = subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], capture_output=True,
                          text=True, check=True).stdout
    assert "board_uart_putc" in addr and "bkpt" not in code   # no semihosting on real boards


def test_build_error_is_one_line(tmp_path):
    src = tmp_path / "model.c"
    src.write_text("this is not C\n")
    with pytest.raises(EdgembError, match="firmware for mps2-an386: build failed: .*error"):
        build_firmware(load_target("mps2-an386"), [src], tmp_path / "b", kernel_sources=[])


@pytest.mark.parametrize("name", MACHINES)
def test_bulk_sections_follow_the_target(name, dummy_elf):  # noqa: F811
    """.emb_bulk / .emb_bulk_bss go to the target's bulk region (an547: DDR), else to
    FLASH / RAM; the end-to-end test above proves the firmware reads them correctly."""
    target = load_target(name)
    syms = subprocess.run(["arm-none-eabi-nm", str(dummy_elf(name))], capture_output=True,
                          text=True, check=True).stdout
    addr = {ln.split()[-1]: int(ln.split()[0], 16) for ln in syms.splitlines()
            if len(ln.split()) == 3}
    m = target.memory
    const_base, buf_base = (m.bulk_origin, m.bulk_origin) if m.bulk_length else \
        (m.flash_origin, m.ram_origin)
    assert const_base <= addr["one"] < const_base + (m.bulk_length or m.flash_length)
    assert buf_base <= addr["arena"] < buf_base + (m.bulk_length or m.ram_length)
    assert (m.bulk_length is not None) == (name == "mps3-an547")
