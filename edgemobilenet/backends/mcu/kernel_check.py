"""Build and drive the kernel test firmware (firmware/tests/kernel_driver.c).

One driver binary runs a stream of kernel calls ("cases") and returns each output and the
instructions it took. It is built for the host (gcc + ASan/UBSan; DSP/MVE logic through the
ACLE emulation headers in firmware/tests/acle_emul/) or for a Cortex-M machine under QEMU
(semihosting file I/O, SysTick instruction counts with -icount shift=0). Used by
tests/test_kernels*.py and tools/bench_kernels.py; results are compared with the numpy
reference elsewhere, never here.
"""
from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgemobilenet.backends.mcu.packing import pack_weights
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.qgraph import QNode, QTensor

ROOT = Path(__file__).resolve().parents[3]
KERNEL_DIR = ROOT / "firmware" / "kernels"
TEST_DIR = ROOT / "firmware" / "tests"

OP_IDS = {"conv2d": 0, "fully_connected": 1, "add": 2, "mul": 3, "lut": 4, "avg_pool": 5,
          "concat": 6, "resize_bilinear": 7, "softmax": 8, "mbqm": 9}

# QEMU machine -> CPU flags, SysTick clock (Hz); firmware/tests/<machine>.ld is its memory map.
MACHINES = {
    "mps2-an386": (["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"], 25_000_000),
    "mps2-an500": (["-mcpu=cortex-m7", "-mfloat-abi=hard", "-mfpu=fpv5-d16"], 25_000_000),
    "mps3-an547": (["-mcpu=cortex-m55", "-mfloat-abi=hard"], 32_000_000),
}

SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]


@dataclass
class KernelCase:
    """One kernel call: op, its int arguments, its arrays, and the output it produces."""

    op: str
    ints: list[int]
    blobs: list[np.ndarray]
    out_shape: tuple[int, ...]
    out_dtype: str = "int8"
    label: str = ""


@dataclass
class KernelResult:
    output: np.ndarray
    instructions: int


@dataclass
class Driver:
    """A built driver: host executable or Cortex-M ELF for `machine`."""

    path: Path
    variant: str
    machine: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def kernel_sources(variant: str) -> list[Path]:
    """EMB_KERNEL_SRCS from kernels.mk for `variant` (so the test covers the makefile)."""
    mk = f"include {KERNEL_DIR}/kernels.mk\nprint:\n\t@echo $(EMB_KERNEL_SRCS)\n"
    r = subprocess.run(["make", "-s", "-f", "-", "print", f"EMB_KERNELS={variant}",
                        f"EMB_KERNEL_DIR={KERNEL_DIR}"], input=mk, text=True,
                       capture_output=True, check=False)
    if r.returncode:
        raise EdgembError(f"kernels.mk: {r.stderr.strip()}")
    return [Path(s) for s in r.stdout.split()]


def _compile(cmd: list[str], what: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode:
        raise EdgembError(f"{what}: compile failed:\n{r.stderr[-4000:]}")


def build_host(variant: str, out_dir: Path, cc: str = "gcc") -> Driver:
    """Host driver under ASan+UBSan; dsp/mve use the ACLE emulation headers."""
    exe = Path(out_dir) / f"kernel_driver_{variant}_host"
    cmd = [cc, "-std=c99", "-O1", "-g", *SANITIZE, "-Wall", "-Wextra", "-Werror",
           f"-I{KERNEL_DIR / 'include'}", f"-I{TEST_DIR}"]
    if variant != "portable":
        cmd.append(f"-I{TEST_DIR / 'acle_emul'}")
    cmd += [str(s) for s in kernel_sources(variant)]
    cmd += [str(TEST_DIR / "kernel_driver.c"), str(TEST_DIR / "host_io.c"), "-o", str(exe)]
    _compile(cmd, f"host {variant} driver")
    env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    return Driver(exe, variant, None, env)


def build_qemu(variant: str, machine: str, out_dir: Path) -> Driver:
    """Cortex-M driver ELF for a QEMU machine (private startup in firmware/tests/)."""
    if machine not in MACHINES:
        raise EdgembError(f"kernel driver: unknown QEMU machine '{machine}'")
    cpu_flags, hz = MACHINES[machine]
    elf = Path(out_dir) / f"kernel_driver_{variant}_{machine}.elf"
    cmd = ["arm-none-eabi-gcc", *cpu_flags, "-mthumb", "-std=c99", "-O2", "-Wall", "-Wextra",
           "-Werror", "-ffunction-sections", "-fdata-sections", "-nostartfiles",
           "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections",
           f"-DTB_TICK_HZ={hz}", f"-I{KERNEL_DIR / 'include'}", f"-I{TEST_DIR}",
           f"-L{TEST_DIR}", f"-T{TEST_DIR / (machine + '.ld')}"]
    cmd += [str(s) for s in kernel_sources(variant)]
    cmd += [str(TEST_DIR / f) for f in ("kernel_driver.c", "semihost_io.c", "startup.c")]
    cmd += ["-o", str(elf)]
    _compile(cmd, f"{machine} {variant} driver")
    return Driver(elf, variant, machine)


def encode(cases: list[KernelCase]) -> bytes:
    out = bytearray()
    for c in cases:
        out += struct.pack("<ii", OP_IDS[c.op], len(c.ints))
        out += struct.pack(f"<{len(c.ints)}i", *[int(v) for v in c.ints])
        out += struct.pack("<i", len(c.blobs))
        for b in c.blobs:
            raw = np.ascontiguousarray(b).tobytes()
            out += struct.pack("<i", len(raw)) + raw + b"\0" * (-len(raw) % 4)
        n_out = int(np.prod(c.out_shape)) * np.dtype(c.out_dtype).itemsize
        out += struct.pack("<i", n_out)
    out += struct.pack("<i", -1)
    return bytes(out)


def decode(raw: bytes, cases: list[KernelCase]) -> list[KernelResult]:
    results, pos = [], 0
    for c in cases:
        if pos + 12 > len(raw):
            raise EdgembError(f"kernel driver: output ends before case '{c.label or c.op}'")
        status, instr, n = struct.unpack_from("<iIi", raw, pos)
        pos += 12
        if status:
            raise EdgembError(f"kernel driver: case '{c.label or c.op}' failed ({status})")
        arr = np.frombuffer(raw[pos:pos + n], dtype=c.out_dtype).reshape(c.out_shape).copy()
        pos += n + (-n % 4)
        results.append(KernelResult(arr, instr))
    return results


def run(driver: Driver, cases: list[KernelCase], timeout: float = 120.0) -> list[KernelResult]:
    """Run every case on the driver; raise EdgembError with the driver's stderr on failure."""
    data = encode(cases)
    if driver.machine is None:
        env = {**os.environ, **driver.env}
        r = subprocess.run([str(driver.path)], input=data, capture_output=True, env=env,
                           timeout=timeout, check=False)
        if r.returncode:
            raise EdgembError(f"kernel driver ({driver.variant}, host) exited "
                              f"{r.returncode}:\n{r.stderr.decode(errors='replace')[-4000:]}")
        return decode(r.stdout, cases)
    return decode(_run_qemu(driver, data, timeout), cases)


def _run_qemu(driver: Driver, data: bytes, timeout: float) -> bytes:
    qemu = shutil.which("qemu-system-arm")
    if not qemu:
        raise EdgembError("qemu-system-arm not found (tools/setup.sh installs it)")
    with tempfile.TemporaryDirectory(prefix="emb_kdrv_") as tmp:
        (Path(tmp) / "tb_in.bin").write_bytes(data)
        cmd = [qemu, "-M", driver.machine, "-kernel", str(driver.path), "-display", "none",
               "-monitor", "none", "-serial", "none", "-semihosting-config",
               "enable=on,target=native", "-icount", "shift=0"]
        proc = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise EdgembError(f"kernel driver ({driver.variant}, {driver.machine}): QEMU "
                              f"timed out after {timeout:.0f} s") from None
        if proc.returncode:
            raise EdgembError(f"kernel driver ({driver.variant}, {driver.machine}) exited "
                              f"{proc.returncode}: {(out + err).decode(errors='replace')[-2000:]}")
        return (Path(tmp) / "tb_out.bin").read_bytes()


# --- cases from QGraph nodes (what the code generator emits, as kernel arguments) ---------

def _act(node: QNode) -> list[int]:
    return [int(node.attrs.get("act_min", -128)), int(node.attrs.get("act_max", 127))]


def case_from_node(node: QNode, in_tensors: list[QTensor], out_tensor: QTensor,
                   inputs: list[np.ndarray], variant: str = "portable",
                   concat_index: int = 0, concat_out: np.ndarray | None = None,
                   compact: bool = False) -> KernelCase:
    """The kernel call for `node` on `inputs` (for concat: the call for input
    `concat_index`, writing into a copy of `concat_out`); `compact`: see packing.py."""
    a, p = node.attrs, node.params
    out_shape = tuple(out_tensor.shape)
    zp_out = int(out_tensor.zero_point)
    x = np.ascontiguousarray(inputs[0], dtype=np.int8)
    zp_in = int(in_tensors[0].zero_point)
    label = node.name
    if node.op == "conv2d":
        _, h, w, c = x.shape
        _, oh, ow, oc = out_shape
        _, kh, kw, _ = p["weight"].shape
        sh, sw = a.get("stride", [1, 1])
        pt, pl = a.get("padding", [0, 0, 0, 0])[:2]
        dh, dw = a.get("dilation", [1, 1])
        ints = [h, w, c, oh, ow, oc, kh, kw, sh, sw, pt, pl, dh, dw, int(a.get("groups", 1)),
                zp_in, zp_out, *_act(node), int(compact)]
        wt = pack_weights("conv2d", a, p["weight"], variant, compact)
        return KernelCase("conv2d", ints, [x, wt, p["bias"], p["multiplier"], p["shift"]],
                          out_shape, label=label)
    if node.op == "fully_connected":
        ints = [x.shape[-1], out_shape[-1], zp_in, zp_out, *_act(node)]
        wt = pack_weights("fully_connected", a, p["weight"], variant)
        return KernelCase("fully_connected", ints,
                          [x, wt, p["bias"], p["multiplier"], p["shift"]], out_shape, label=label)
    if node.op == "add":
        m, s = p["multiplier"], p["shift"]
        ints = [x.size, zp_in, int(in_tensors[1].zero_point), zp_out,
                int(a.get("left_shift", 20)), *m.tolist(), *s.tolist(), *_act(node)]
        return KernelCase("add", ints, [x, np.ascontiguousarray(inputs[1], np.int8)],
                          out_shape, label=label)
    if node.op == "mul":
        b = np.ascontiguousarray(inputs[1], dtype=np.int8)
        c = x.shape[-1]
        if b.size not in (x.size, c):
            raise EdgembError(f"{node.name}: mul broadcast of {b.shape} to {x.shape} "
                              "is not supported by the kernels")
        ints = [x.size // c, c, int(b.size != x.size), zp_in, int(in_tensors[1].zero_point),
                zp_out, int(p["multiplier"][0]), int(p["shift"][0]), *_act(node)]
        return KernelCase("mul", ints, [x, b], out_shape, label=label)
    if node.op == "lut":
        return KernelCase("lut", [x.size, 0], [x, p["table"]],
                          out_shape, label=label)
    if node.op == "avg_pool":
        _, h, w, c = x.shape
        _, oh, ow, _ = out_shape
        kh, kw = a["kernel"]
        sh, sw = a.get("stride", [1, 1])
        pt, pl = a.get("padding", [0, 0, 0, 0])[:2]
        ints = [h, w, c, oh, ow, kh, kw, sh, sw, pt, pl, *_act(node)]
        return KernelCase("avg_pool", ints, [x], out_shape, label=label)
    if node.op == "concat":
        axis = int(a.get("axis", 3)) % len(out_shape)
        if axis != len(out_shape) - 1:
            raise EdgembError(f"{node.name}: concat along axis {axis}: kernels support the "
                              "channel axis only")
        xi = np.ascontiguousarray(inputs[concat_index], dtype=np.int8)
        c_off = sum(int(t.shape[-1]) for t in in_tensors[:concat_index])
        ints = [xi.size // xi.shape[-1], xi.shape[-1], out_shape[-1], c_off,
                int(a["requant"][concat_index]), int(in_tensors[concat_index].zero_point),
                zp_out, int(p["multiplier"][concat_index]), int(p["shift"][concat_index])]
        init = np.zeros(out_shape, np.int8) if concat_out is None else concat_out
        return KernelCase("concat", ints, [xi, np.ascontiguousarray(init, np.int8)],
                          out_shape, label=label)
    if node.op == "resize_bilinear":
        _, h, w, c = x.shape
        return KernelCase("resize_bilinear", [h, w, c, out_shape[1], out_shape[2], zp_in],
                          [x], out_shape, label=label)
    if node.op == "softmax":
        return KernelCase("softmax", [x.size], [x, p["exp_table"]], out_shape, label=label)
    raise EdgembError(f"{node.name}: op '{node.op}' has no kernel")


def mbqm_case(x: np.ndarray, m: np.ndarray, s: np.ndarray) -> KernelCase:
    """emb_mbqm over arrays (fixed-point edge cases)."""
    x, m, s = (np.ascontiguousarray(v, dtype=np.int32) for v in (x, m, s))
    return KernelCase("mbqm", [x.size], [x, m, s], x.shape, "int32", "mbqm")
