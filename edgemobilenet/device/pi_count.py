"""Instructions per inference on an emulated Pi core: a model run by the emulated Pi's
Python (the aarch64 root of `pi_emulator`) under `qemu-aarch64 -cpu <core>` with the
instruction-counting plugin (`insn_count`). The guest side is `pi_guest.py`.

The same core runs our TVM module and the peers (LiteRT, onnxruntime) from the same
root, one thread each: a ratio of instruction counts, not of Pi milliseconds.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from edgemobilenet.device import insn_count, pi_emulator
from edgemobilenet.errors import EdgembError
from edgemobilenet.targets import CpuInfo

GUEST = Path(__file__).with_name("pi_guest.py")
RUNTIMES = ("tvm", "litert", "litert-noxnnpack", "ort")
LABEL = "instructions (QEMU TCG plugin count; not cycles, not Pi time)"


@dataclass
class InferenceCount:
    runtime: str
    cpu: str
    per_inference: float        # instructions
    inferences: int             # counted between the markers (after one warm-up)
    output: dict                # shape, dtype and checksum of the last output


def guest_env(root: Path, cpu: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of a counted guest: the root's Python, one thread, no telemetry."""
    env = pi_emulator.python_env(root, cpu, threads=1)
    env.update(EDGEMB_MARKER=str(insn_count.MARKER_SYSCALL), OMP_NUM_THREADS="1",
               ORT_DISABLE_TELEMETRY="1", **(extra or {}))
    return env


def count_inference(runtime: str, model: str | os.PathLike, cpu: str, *, inferences: int = 3,
                    input_spec: dict | None = None, input_npy: str | os.PathLike | None = None,
                    cpuinfo: CpuInfo | None = None, timeout: float = 1800) -> InferenceCount:
    """Instructions per inference of `model` run by `runtime` on the emulated `cpu`.

    `runtime`: "tvm" (a Relax `.so` built for an aarch64 target; `input_spec` {"shape",
    "dtype"} from its manifest), "litert" (XNNPACK, LiteRT's default), "litert-noxnnpack",
    "ort" (onnxruntime CPU); the peers need the core's `cpuinfo` (its target's
    [qemu.cpuinfo]). Input: `input_npy` or a fixed random tensor.
    """
    if runtime not in RUNTIMES:
        raise EdgembError(f"runtime '{runtime}': expected one of {', '.join(RUNTIMES)}")
    model = Path(model)
    if not model.is_file():
        raise EdgembError(f"{model}: no such model file")
    if runtime != "tvm" and cpuinfo is None:
        raise EdgembError(f"{runtime} on {model.name}: the emulated {cpu} needs its target's "
                          f"[qemu.cpuinfo] (onnxruntime reads /proc/cpuinfo)")
    root = (pi_emulator.prepare_root() if runtime == "tvm"
            else pi_emulator.peer_root(cpu, cpuinfo))
    if runtime == "tvm" and input_spec is None:
        raise EdgembError(f"{model}: a TVM module needs its input shape and dtype")
    env = guest_env(root, cpu, {"EDGEMB_INPUT": json.dumps(input_spec)} if input_spec else None)
    cmd = [str(root / pi_emulator.PYTHON), str(GUEST), "infer", runtime, str(model),
           str(inferences)] + ([str(input_npy)] if input_npy else [])
    r, counts = insn_count.run_counted(cmd, cpu, timeout=timeout, env=env,
                                       what=f"{runtime} on {model.name}")
    regions = counts.between(1, 2)
    if len(regions) != 1:
        raise EdgembError(f"{runtime} on {model.name}: the guest did not mark its inferences")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return InferenceCount(runtime, cpu, regions[0] / inferences, inferences, out)


def count_build(build_dir: str | os.PathLike, cpu: str, *, inferences: int = 2,
                timeout: float = 3600) -> InferenceCount:
    """Instructions per inference of an `edgemb compile --target rpi*` build directory."""
    build_dir = Path(build_dir)
    try:
        manifest = json.loads((build_dir / "manifest.json").read_text())
    except FileNotFoundError:
        raise EdgembError(f"{build_dir}: no manifest.json (not a build directory)") from None
    (inp,) = manifest["inputs"]
    spec = {"shape": [1, *inp["shape"][1:]] if inp["shape"] else [1],
            "dtype": inp.get("dtype", "int8")}
    return count_inference("tvm", build_dir / manifest["library"], cpu, inferences=inferences,
                           input_spec=spec, timeout=timeout)
