"""Build a generated model natively (gcc, portable kernels, sanitizers) and run it.

The host build checks code generation and the memory plan without an emulator: its
outputs must equal the numpy reference byte for byte, layer by layer.
"""
from __future__ import annotations

import shutil
import struct
from pathlib import Path
from typing import Mapping

import numpy as np

from edgemobilenet.backends.mcu import codegen, planner
from edgemobilenet.backends.mcu.patch_plan import PatchPlan
from edgemobilenet.targets import FIRMWARE_DIR as FIRMWARE
from edgemobilenet import child
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.qgraph import QGraph


def _flags(sanitize: bool) -> list[str]:
    flags = ["-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror=implicit-function-declaration",
             f"-I{FIRMWARE / 'kernels' / 'include'}", f"-I{FIRMWARE / 'runtime'}"]
    if sanitize:
        flags += ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                  "-fno-omit-frame-pointer"]
    return flags


def _cc(cmd: list[str], what: str) -> None:
    if shutil.which(cmd[0]) is None:
        raise EdgembError(f"host build: compiler '{cmd[0]}' not found")
    r = child.run(cmd, f"host build of {what}", child.COMPILE_TIMEOUT_S)
    if r.returncode != 0:
        raise EdgembError(f"host build of {what} failed:\n{r.stderr[-4000:]}")


def build_kernel_objects(work_dir: Path, *, sanitize: bool = True, cc: str = "gcc") -> list[Path]:
    """Compile the portable kernels and the host driver once, to link many models against."""
    work_dir.mkdir(parents=True, exist_ok=True)
    srcs = [*sorted((FIRMWARE / "kernels" / "portable").glob("emb_*.c")),
            FIRMWARE / "tests" / "host_model_main.c"]
    objs = [work_dir / (s.stem + ".o") for s in srcs]
    for src, obj in zip(srcs, objs):
        _cc([cc, *_flags(sanitize), "-c", str(src), "-o", str(obj)], str(src))
    return objs


def build_host(g: QGraph, work_dir: Path, *, sanitize: bool = True, cc: str = "gcc",
               objects: list[Path] | None = None,
               inplace: Mapping[int, tuple[int, int]] = {},
               patch: PatchPlan | None = None) -> Path:
    """Generate model.c for `g` (portable kernels) into work_dir and link `host_model`.

    `objects` from `build_kernel_objects` (same `sanitize`) skip recompiling the kernels;
    `inplace`: depthwise layers run in place (inplace.py); `patch`: layers run in patches
    (patch.py).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    codegen.generate_model(g, planner.plan(g, 4, inplace, patch), "portable", work_dir)
    if objects is None:
        objects = build_kernel_objects(work_dir / "obj", sanitize=sanitize, cc=cc)
    exe = work_dir / "host_model"
    _cc([cc, *_flags(sanitize), f"-I{work_dir}", str(work_dir / "model.c"), *map(str, objects),
         "-lm", "-o", str(exe)], str(work_dir / "model.c"))
    return exe


def _run(exe: Path, x: np.ndarray, args: list[str]) -> bytes:
    r = child.run([str(exe), *args], str(exe), 600,
                  input=np.ascontiguousarray(x, dtype=np.int8).tobytes(), text=False)
    if r.returncode != 0:
        raise EdgembError(f"{exe}: exit {r.returncode}: {r.stderr.decode(errors='replace')[-4000:]}")
    return r.stdout


def run_host(exe: Path, g: QGraph, x: np.ndarray) -> np.ndarray:
    """The graph output for one input, shaped like the graph's output tensor."""
    t = g.tensor(g.outputs[0])
    return np.frombuffer(_run(exe, x, []), dtype=np.int8).reshape(t.shape)


def run_host_layers(exe: Path, g: QGraph, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's output tensor (run 0..i for each i), shaped per the graph."""
    data, pos, out = _run(exe, x, ["layers"]), 0, []
    for node in g.nodes:
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        arr = np.frombuffer(data[pos:pos + size], dtype=np.int8)
        out.append(arr.reshape(g.tensor(node.outputs[0]).shape))
        pos += size
    return out
