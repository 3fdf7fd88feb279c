"""Host latency of one zoo model: torch float vs onnxruntime int8 (QDQ) vs TVM int8 untuned
(and tuned, with --tune-db). Writes JSON; a speed figure, never a test.

    .venv/bin/python tools/bench_host.py --arch mobilenet_v2 --width 1.0 --resolution 224 \
        --threads 2 [--tune-db build/tune-host] -o build/bench_host.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _median_ms(fn, warmup: int, runs: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def _tvm_ms(g, target: dict, x: np.ndarray, tune_db: str | None, runs: int) -> dict:
    import tvm
    from tvm import relax

    from edgemobilenet.backends.tvm.build import compile_qgraph, run_local
    from edgemobilenet.quant import reference

    t = time.perf_counter()
    ex = compile_qgraph(g, target, tune_db)
    vm = relax.VirtualMachine(ex, tvm.cpu())
    compile_s = time.perf_counter() - t
    exact = all(np.array_equal(a, reference.run(g, x)[k]) for k, a in run_local(ex, g, x).items())
    vm.set_input("main", tvm.runtime.tensor(x))
    f = vm.time_evaluator("invoke_stateful", tvm.cpu(), number=max(1, runs // 5), repeat=5)
    return {"ms": float(np.median(f("main").results) * 1e3), "compile_s": round(compile_s, 1),
            "bit_exact": bool(exact)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="mobilenet_v2")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--tune-db", default=None)
    ap.add_argument("-o", "--output", type=Path, default=Path("build/bench_host.json"))
    a = ap.parse_args()
    os.environ["TVM_NUM_THREADS"] = str(a.threads)
    torch.set_num_threads(a.threads)

    import onnxruntime as ort

    from edgemobilenet.backends.tvm.linux_target import linux_target
    from edgemobilenet.models import build
    from edgemobilenet.quant.convert import quantize_module
    from edgemobilenet.quant.onnx_export import export_qdq

    torch.manual_seed(0)
    model = build(a.arch, a.width, a.resolution, 1000).eval()
    xf = torch.rand(1, 3, a.resolution, a.resolution) * 2 - 1
    g = quantize_module(model, torch.rand(8, 3, a.resolution, a.resolution) * 2 - 1)
    x = np.random.default_rng(0).integers(-128, 128, g.tensors[g.inputs[0]].shape, dtype=np.int8)
    target = linux_target("host").tvm_target
    res: dict = {"arch": a.arch, "width": a.width, "resolution": a.resolution,
                 "threads": a.threads, "cpu": target["mcpu"], "machine": platform.machine()}
    with torch.no_grad():
        res["torch_float_ms"] = _median_ms(lambda: model(xf), 3, a.runs)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "m.onnx")
        export_qdq(g, path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.add_session_config_entry("session.qdqisint8allowed", "1")
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        res["onnxruntime_int8_ms"] = _median_ms(lambda: sess.run(None, {name: x}), 3, a.runs)
    res["tvm_untuned"] = _tvm_ms(g, target, x, None, a.runs)
    if a.tune_db:
        res["tvm_tuned"] = _tvm_ms(g, target, x, a.tune_db, a.runs)
    a.output.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = a.output.with_suffix(".tmp")
    tmp_out.write_text(json.dumps(res, indent=1))
    os.replace(tmp_out, a.output)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
