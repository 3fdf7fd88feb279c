"""Build and run firmware/tests/postprocess_driver.c (emb_postprocess.c) on the host under
ASan+UBSan or in QEMU, with the host module's offline constants (int8 threshold, score
table)."""
from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import numpy as np

from edgemobilenet.backends.mcu import kernel_check as kc
from edgemobilenet.detection.tflite_nms import (Detections, NMSConfig, dequantize,
                                                int8_threshold, scores_of)

SRC = kc.KERNEL_DIR / "portable" / "emb_postprocess.c"
DRIVER = kc.TEST_DIR / "postprocess_driver.c"
DET_DTYPE = np.dtype([("box", "<f4", 4), ("cls", "<i4"), ("score", "<f4")])


def build_host(out_dir: Path) -> kc.Driver:
    exe = Path(out_dir) / "postprocess_driver_host"
    kc._compile(["gcc", "-std=c99", "-O1", "-g", *kc.SANITIZE, "-Wall", "-Wextra", "-Werror",
                 f"-I{kc.KERNEL_DIR / 'include'}", f"-I{kc.TEST_DIR}", str(SRC), str(DRIVER),
                 str(kc.TEST_DIR / "host_io.c"), "-lm", "-o", str(exe)], "host postprocess driver")
    return kc.Driver(exe, "portable", None, {"ASAN_OPTIONS": "detect_leaks=1",
                                              "UBSAN_OPTIONS": "halt_on_error=1"})


def build_qemu(machine: str, out_dir: Path) -> kc.Driver:
    elf = Path(out_dir) / f"postprocess_driver_{machine}.elf"
    kc._compile(["arm-none-eabi-gcc", "-std=gnu11", "-O2",   # as runtime.mk builds firmware "-Wall", "-Wextra", "-Werror",
                 "-ffunction-sections", "-fdata-sections", "-nostartfiles",
                 "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections",
                 f"-I{kc.KERNEL_DIR / 'include'}", *kc.qemu_flags(machine, Path(out_dir)),
                 str(SRC), str(DRIVER), str(kc.TEST_DIR / "semihost_io.c"),
                 str(kc.TEST_DIR / "startup.c"), "-lm", "-o", str(elf)],
                f"{machine} postprocess driver")
    return kc.Driver(elf, "portable", machine)


def _blob(b: bytes) -> bytes:
    return struct.pack("<i", len(b)) + b + b"\0" * (-len(b) % 4)


def detect_record(raw_q: np.ndarray, scale: float, zp: int, anchors: np.ndarray,
                  cfg: NMSConfig) -> bytes:
    """One detect case; raw_q is the model's flat int8 output (A x 4 codes, A x K logits)."""
    a = len(anchors)
    k = raw_q.size // a - 4
    table = scores_of(dequantize(np.arange(-128, 128), scale, zp)).astype("<f4")
    ints = [0, a, k, zp, int8_threshold(scale, zp, cfg.score_threshold),
            cfg.top_k or a, cfg.max_detections, cfg.max_classes_per_detection,
            int(cfg.use_regular_nms), cfg.detections_per_class]
    return (struct.pack(f"<{len(ints)}i", *ints) + _blob(struct.pack("<f", scale))
            + _blob(struct.pack("<d", cfg.iou_threshold))
            + _blob(struct.pack("<4d", cfg.x_scale, cfg.y_scale, cfg.w_scale, cfg.h_scale))
            + _blob(anchors.astype("<f4").tobytes()) + _blob(table.tobytes())
            + _blob(np.ascontiguousarray(raw_q, np.int8).tobytes()))


def argmax_record(x: np.ndarray) -> bytes:
    return struct.pack("<3i", 1, x.size // x.shape[-1], x.shape[-1]) + _blob(x.tobytes())


def run(driver: kc.Driver, records: list[bytes], kinds: list[str]) -> list:
    """Detections (Detections, instructions) or (argmax map, instructions) per record."""
    data = b"".join(records) + struct.pack("<i", -1)
    if driver.machine is None:
        r = subprocess.run([str(driver.path)], input=data, capture_output=True, timeout=60,
                           env={**os.environ, **driver.env}, check=False)
        assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
        raw = r.stdout
    else:
        raw = kc.run_qemu(driver, data, 60.0)
    out, pos = [], 0
    for kind in kinds:
        n, instr = struct.unpack_from("<iI", raw, pos)
        pos += 8
        if kind == "detect":
            d = np.frombuffer(raw, DET_DTYPE, n, pos)
            pos += n * DET_DTYPE.itemsize
            out.append((Detections(d["box"].copy(), d["cls"].astype(np.int64),
                                   d["score"].copy()), instr))
        else:
            out.append((np.frombuffer(raw, np.int8, n, pos).copy(), instr))
            pos += (n + 3) & ~3
    return out
