"""`Device`: an MCU running our firmware, driven over the serial protocol."""
from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgemobilenet.device import protocol as P
from edgemobilenet.errors import EdgembError


@dataclass(frozen=True)
class DeviceInfo:
    protocol_version: int
    max_payload: int
    model_hash: str
    input_size: int
    output_size: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    arena_size: int
    num_layers: int
    clock_hz: int        # ticks per second of the device clock
    clock_unit: str      # "instructions" (emulation) or "cycles"
    stack_size: int
    semihosting: bool


def parse_info(p: bytes) -> DeviceInfo:
    if len(p) < 160:
        raise EdgembError(f"info reply too short ({len(p)} bytes)")
    ver, maxp = struct.unpack_from("<HH", p, 0)
    ins, outs = struct.unpack_from("<II", p, 68)
    ish = struct.unpack_from("<4i", p, 76)
    osh = struct.unpack_from("<4i", p, 92)
    isc, izp, osc, ozp, arena, layers, hz, stack = struct.unpack_from("<fifiIIII", p, 108)
    return DeviceInfo(ver, maxp, p[4:68].decode("ascii", "replace"), ins, outs,
                      tuple(d for d in ish if d), tuple(d for d in osh if d), isc, izp, osc,
                      ozp, arena, layers, hz, p[144:160].rstrip(b"\0").decode("ascii"),
                      stack, bool(p[140]))


class Device:
    """Talks to the firmware over a Link. With `expected_hash`, refuses a device that runs
    another model. Inputs and outputs are int8 numpy arrays."""

    def __init__(self, link: P.Link, expected_hash: str | None = None, timeout: float = 5.0,
                 run_timeout: float = 120.0, retries: int = 3) -> None:
        self.session = P.Session(link, timeout=timeout, retries=retries)
        self.run_timeout = run_timeout
        self._info = parse_info(self.session.request(P.CMD_INFO))
        if self._info.protocol_version != 1:
            raise EdgembError(f"{link.name}: protocol version {self._info.protocol_version}, "
                              "expected 1 (reflash the firmware)")
        if expected_hash is not None and self._info.model_hash != expected_hash:
            raise EdgembError(f"{link.name}: device runs model {self._info.model_hash[:12]}, "
                              f"expected {expected_hash[:12]} (flash the matching firmware)")
        self._chunk = min(self._info.max_payload, P.MAX_PAYLOAD) - 8
        self._input: bytes | None = None
        self._input_on_device = False

    def info(self) -> DeviceInfo:
        return self._info

    def ping(self, payload: bytes) -> bytes:
        return self.session.request(P.CMD_PING, payload)

    def set_input(self, data: bytes | np.ndarray) -> None:
        if isinstance(data, np.ndarray):
            raw = np.ascontiguousarray(data, dtype=np.int8).tobytes()
        else:
            raw = bytes(data)
        if len(raw) != self._info.input_size:
            raise EdgembError(f"{self.session.link.name}: input has {len(raw)} bytes, the model "
                              f"takes {self._info.input_size}")
        self._input = raw
        self._send_input()

    def _send_input(self) -> None:
        assert self._input is not None
        for off in range(0, len(self._input), self._chunk):
            self.session.request(P.CMD_SET_INPUT, struct.pack("<I", off)
                                 + self._input[off:off + self._chunk])
        self._input_on_device = True

    def _ensure_input(self) -> None:
        """A run consumes the device's input buffer; send the last input again if needed."""
        if self._input is None:
            raise EdgembError(f"{self.session.link.name}: no input set")
        if not self._input_on_device:
            self._send_input()

    def invoke(self) -> int:
        """Run the whole model; returns elapsed ticks (see info().clock_unit)."""
        self._ensure_input()
        self._input_on_device = False
        reply = self.session.request(P.CMD_INVOKE, timeout=self.run_timeout)
        return struct.unpack("<I", reply[:4])[0]

    def _read_chunks(self, cmd: int, head: bytes, size: int | None, skip: int) -> bytes:
        out = bytearray()
        while size is None or len(out) < size:
            reply = self.session.request(cmd, head + struct.pack("<IH", len(out), self._chunk),
                                         timeout=self.run_timeout)
            if size is None:
                size = struct.unpack_from("<I", reply)[0]
            data = reply[skip:]
            if not data and len(out) < size:
                raise EdgembError(f"{self.session.link.name}: device sent an empty chunk")
            out += data
        return bytes(out)

    def get_output(self) -> np.ndarray:
        raw = self._read_chunks(P.CMD_GET_OUTPUT, b"", self._info.output_size, 0)
        return np.frombuffer(raw, dtype=np.int8).reshape(self._info.output_shape)

    def run(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """set_input + invoke + get_output: (output, ticks)."""
        self.set_input(x)
        ticks = self.invoke()
        return self.get_output(), ticks

    def layer_profile(self) -> list[int]:
        """Ticks per layer of the last invoke()."""
        ticks: list[int] = []
        while len(ticks) < self._info.num_layers:
            reply = self.session.request(P.CMD_GET_LAYER_PROFILE, struct.pack("<I", len(ticks)))
            n = struct.unpack_from("<I", reply)[0]
            if n == 0:
                raise EdgembError(f"{self.session.link.name}: empty layer profile chunk")
            ticks += struct.unpack_from(f"<{n}I", reply, 4)
        return ticks

    def get_tensor(self, layer: int) -> np.ndarray:
        """Output of `layer` (flat int8) after running the last input up to it."""
        self._ensure_input()
        self._input_on_device = False
        raw = self._read_chunks(P.CMD_GET_TENSOR, struct.pack("<i", layer), None, 4)
        return np.frombuffer(raw, dtype=np.int8)

    def get_postprocessed(self) -> bytes:
        """The device post-processing of the last run (PROTOCOL.md, get_postprocessed)."""
        return self._read_chunks(P.CMD_GET_POSTPROCESSED, b"", None, 4)

    def stack_high_water(self) -> int:
        """Deepest stack use since boot, in bytes."""
        return struct.unpack("<I", self.session.request(P.CMD_GET_STACK)[:4])[0]

    def batch(self, inputs: np.ndarray,
              workdir: str | Path | None = None) -> tuple[np.ndarray, int]:
        """Bulk run over semihosting files (emulation only): inputs (N, ...) int8 ->
        (outputs (N, *output_shape), total ticks). Same results as run() per input."""
        if not self._info.semihosting:
            raise EdgembError(f"{self.session.link.name}: batch needs semihosting (emulation)")
        x = np.ascontiguousarray(inputs, dtype=np.int8).reshape(len(inputs), -1)
        if x.shape[1] != self._info.input_size:
            raise EdgembError(f"{self.session.link.name}: batch inputs have {x.shape[1]} bytes "
                              f"each, the model takes {self._info.input_size}")
        with tempfile.TemporaryDirectory(prefix="edgemb-batch-", dir=workdir) as tmp:
            fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
            fin.write_bytes(x.tobytes())
            payload = (struct.pack("<I", len(x)) + os.fsencode(fin) + b"\0"
                       + os.fsencode(fout) + b"\0")
            if len(payload) > P.MAX_PAYLOAD:
                raise EdgembError(f"{tmp}: path too long for a batch command")
            self._input_on_device = False
            reply = self.session.request(P.CMD_BATCH, payload,
                                         timeout=self.run_timeout * max(1, len(x)))
            done, lo, hi = struct.unpack("<III", reply[:12])
            out = np.frombuffer(fout.read_bytes(), dtype=np.int8)
        if done != len(x) or out.size != done * self._info.output_size:
            raise EdgembError(f"{self.session.link.name}: batch ran {done} of {len(x)} inputs")
        return out.reshape((done, *self._info.output_shape)), lo | hi << 32
