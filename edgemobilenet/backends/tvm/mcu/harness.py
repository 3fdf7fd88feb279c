"""Run TVM-generated kernel objects in QEMU: link them into `firmware/tvm/tvm_driver.c`
(with the kernel test I/O of `firmware/tests/`) and get each output and its instruction
count. Shared by the tests, the MetaSchedule runner and per-layer selection.

The driver objects are compiled once per machine into a cache directory; a candidate
costs one small C file (the dispatch switch) and a link.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tvm import tirx

from edgemobilenet.backends.mcu.kernel_check import (TEST_DIR, Driver, run_qemu, qemu_flags,
                                                     qemu_target)
from edgemobilenet import child
from edgemobilenet.errors import EdgembError
from edgemobilenet.targets import FIRMWARE_DIR

TVM_FW = FIRMWARE_DIR / "tvm"
_CTYPES = {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
           "uint8": "uint8_t"}
CC = "arm-none-eabi-gcc"


@dataclass
class KernelSpec:
    """A kernel symbol and the C element type of each pointer parameter."""

    symbol: str
    ctypes: list[str]


@dataclass
class Case:
    """One call: kernel index in the dispatch table, input blobs, output shape and dtype."""

    kernel: int
    blobs: list[np.ndarray]
    out_shape: tuple[int, ...]
    out_dtype: str = "int8"


def spec_of(func: tirx.PrimFunc, symbol: str) -> KernelSpec:
    """The C signature of an (unlowered) PrimFunc whose parameters are all buffers."""
    return KernelSpec(symbol, [_CTYPES[str(p.dtype)] for p in func.params])


def prototype(spec: KernelSpec) -> str:
    return f"int32_t {spec.symbol}({', '.join(t + ' *' for t in spec.ctypes)});"


def dispatch_source(specs: list[KernelSpec]) -> str:
    lines = ["#include <stdint.h>", *(prototype(s) for s in specs),
             "int emb_tvm_dispatch(int32_t kernel, void **a);",
             "int emb_tvm_dispatch(int32_t kernel, void **a)", "{", "    switch (kernel) {"]
    for i, s in enumerate(specs):
        args = ", ".join(f"({t} *)a[{j}]" for j, t in enumerate(s.ctypes))
        lines.append(f"    case {i}: return {s.symbol}({args});")
    lines += ["    default: return -1;", "    }", "}", ""]
    return "\n".join(lines)


def _cc(cmd: list[str], what: str) -> None:
    r = child.run(cmd, what, child.COMPILE_TIMEOUT_S)
    if r.returncode:
        raise EdgembError(f"{what}: {r.stderr.strip()[-3000:]}")


def _flags(machine: str, out_dir: Path) -> list[str]:
    return [*qemu_flags(machine, out_dir), "-O2", "-std=c99"]


def driver_objects(machine: str, cache: Path) -> list[Path]:
    """Compiled driver, I/O, startup and TVM stub objects for `machine` (cached by content)."""
    srcs = [TVM_FW / "tvm_driver.c", TVM_FW / "tvm_stubs.c", TEST_DIR / "semihost_io.c",
            TEST_DIR / "startup.c"]
    t = qemu_target(machine)   # its flags and clock are part of the key
    key = hashlib.sha256(repr((machine, t.cflags, t.clock_hz)).encode()
                         + b"".join(s.read_bytes() for s in srcs)
                         + (TEST_DIR / "tb_io.h").read_bytes()).hexdigest()[:16]
    out = Path(cache) / f"driver-{machine}-{key}"
    objs = [out / (s.stem + ".o") for s in srcs]
    if all(o.is_file() for o in objs):
        return objs
    out.mkdir(parents=True, exist_ok=True)
    for s, o in zip(srcs, objs):
        tmp = o.with_suffix(".tmp.o")
        _cc([CC, *_flags(machine, out), "-ffunction-sections", "-c", str(s), "-o", str(tmp)],
            f"TVM kernel driver ({machine}): {s.name}")
        tmp.replace(o)
    return objs


def link(machine: str, kernel_objs: list[Path], specs: list[KernelSpec], elf: Path,
         cache: Path) -> Path:
    """Link kernel objects (or C files) with the driver into `elf`."""
    elf = Path(elf)
    dispatch = elf.with_name(elf.stem + "_dispatch.c")
    dispatch.write_text(dispatch_source(specs))
    cmd = [CC, *_flags(machine, elf.parent), "-nostartfiles", "--specs=nano.specs",
           "--specs=nosys.specs", "-Wl,--gc-sections",
           *map(str, driver_objects(machine, cache)), str(dispatch), *map(str, kernel_objs),
           "-o", str(elf)]
    _cc(cmd, f"TVM kernel harness ({machine}): link")
    return elf


def encode(cases: list[Case]) -> bytes:
    out = bytearray()
    for c in cases:
        out += struct.pack("<ii", c.kernel, len(c.blobs))
        for b in c.blobs:
            raw = np.ascontiguousarray(b).tobytes()
            out += struct.pack("<i", len(raw)) + raw + b"\0" * (-len(raw) % 4)
        out += struct.pack("<i", int(np.prod(c.out_shape)) * np.dtype(c.out_dtype).itemsize)
    return bytes(out + struct.pack("<i", -1))


def decode(raw: bytes, cases: list[Case]) -> list[tuple[np.ndarray, int]]:
    results, pos = [], 0
    for i, c in enumerate(cases):
        if pos + 12 > len(raw):
            raise EdgembError(f"TVM kernel harness: output ends before case {i}")
        status, instr, n = struct.unpack_from("<iIi", raw, pos)
        pos += 12
        if status:
            why = (" (a workspace allocation failed: over EMB_TVM_WORKSPACE_BYTES of "
                   "firmware/tvm/tvm_stubs.c)" if status == -1 else "")
            raise EdgembError(f"TVM kernel harness: case {i} (kernel {c.kernel}) returned "
                              f"{status}{why}")
        arr = np.frombuffer(raw[pos:pos + n], dtype=c.out_dtype).reshape(c.out_shape).copy()
        pos += n + (-n % 4)
        results.append((arr, int(instr)))
    return results


def run(elf: Path, machine: str, cases: list[Case],
        timeout: float = 120.0) -> list[tuple[np.ndarray, int]]:
    """Run the cases in QEMU (-icount shift=0): (output, instructions) per case."""
    # QEMU runs in a temporary working directory (semihosting files): absolute path
    raw = run_qemu(Driver(Path(elf).resolve(), "tvm", machine), encode(cases), timeout)
    return decode(raw, cases)
