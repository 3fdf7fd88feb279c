"""Host latency of zoo models: TVM int8 tuned (MetaSchedule, dot-product layouts) vs TVM
int8 untuned vs onnxruntime int8 (QDQ, fused to QLinearConv) vs torch float, same threads,
median of N runs each. Writes one JSON with ratios; a speed figure, never a test.

    .venv/bin/python tools/bench_host.py --models mobilenet_v2:1.0:224,mobilenet_v1:1.0:224 \
        --threads 2 --runs 30 --tune-db-root build/tune-db-host --trials-per-task 8 \
        [--strategy replay-trace] -o build/bench_host.json

Tuning runs only when a model's database (`<root>/<arch>-<width>-<res>`) has no records;
its trial budget and wall time are kept beside it in `bench_tune.json` and reported.
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
    ref = reference.run(g, x)
    exact = all(np.array_equal(a, ref[k]) for k, a in run_local(ex, g, x).items())
    vm.set_input("main", tvm.runtime.tensor(x))
    vm.invoke_stateful("main")  # warm-up
    f = vm.time_evaluator("invoke_stateful", tvm.cpu(), number=1, repeat=runs)
    return {"ms": float(np.median(f("main").results) * 1e3), "compile_s": round(compile_s, 1),
            "bit_exact": bool(exact)}


def _ort_ms(g, x: np.ndarray, threads: int, runs: int) -> float:
    import onnxruntime as ort

    from edgemobilenet.quant.onnx_export import export_qdq

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "m.onnx")
        export_qdq(g, path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.qdqisint8allowed", "1")
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return _median_ms(lambda: sess.run(None, {name: x}), 3, runs)


def _tune(g, db: Path, trials_per_task: int, strategy: str) -> dict:
    """Tune into `db` unless it holds records; return the recorded budget and wall time."""
    from edgemobilenet.backends.tvm.linux_target import linux_target
    from edgemobilenet.backends.tvm.tune import tune

    info = db / "bench_tune.json"
    if info.is_file():
        return json.loads(info.read_text())
    t = time.perf_counter()
    summary = tune(g, linux_target("host"), db, trials=100_000, local=True,
                   trials_per_task=trials_per_task, strategy=strategy, in_process_build=True)
    doc = {"trials_per_task": trials_per_task, "strategy": strategy,
           "tasks": len(summary["tasks"]),
           "records": summary["records"], "tune_s": round(time.perf_counter() - t, 1)}
    info.write_text(json.dumps(doc, indent=1))
    return doc


def bench_model(spec: str, a: argparse.Namespace) -> dict:
    from edgemobilenet.backends.tvm import layouts
    from edgemobilenet.backends.tvm.linux_target import linux_target
    from edgemobilenet.models import build
    from edgemobilenet.quant.convert import quantize_module

    arch, width, res = spec.split(":")
    width_f, res_i = float(width), int(res)
    torch.manual_seed(0)
    model = build(arch, width_f, res_i, 1000).eval()
    xf = torch.rand(1, 3, res_i, res_i) * 2 - 1
    g = quantize_module(model, torch.rand(8, 3, res_i, res_i) * 2 - 1)
    x = np.random.default_rng(0).integers(-128, 128, g.tensors[g.inputs[0]].shape, dtype=np.int8)
    target = linux_target("host").tvm_target
    lay = layouts.select(target)
    r: dict = {"arch": arch, "width": width_f, "resolution": res_i,
               "layout": lay.name if lay else "generic"}
    db = Path(a.tune_db_root) / f"{arch}-{width}-{res}" if a.tune_db_root else None
    if db is not None:  # tune first, then measure everything back to back
        r["tuning"] = _tune(g, db, a.trials_per_task, a.strategy)
    with torch.no_grad():
        r["torch_float_ms"] = _median_ms(lambda: model(xf), 3, a.runs)
    r["onnxruntime_int8_ms"] = _ort_ms(g, x, a.threads, a.runs)
    r["tvm_untuned"] = _tvm_ms(g, target, x, None, a.runs)
    if db is not None:
        r["tvm_tuned"] = _tvm_ms(g, target, x, str(db), a.runs)
        tuned = r["tvm_tuned"]["ms"]
        r["ratios"] = {"tuned_over_onnxruntime": round(tuned / r["onnxruntime_int8_ms"], 3),
                       "tuned_over_untuned": round(tuned / r["tvm_untuned"]["ms"], 3),
                       "tuned_over_torch_float": round(tuned / r["torch_float_ms"], 3)}
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenet_v2:1.0:224,mobilenet_v1:1.0:224",
                    help="comma-separated arch:width:resolution")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--tune-db-root", default=None,
                    help="one MetaSchedule database per model below this directory")
    ap.add_argument("--trials-per-task", type=int, default=8)
    ap.add_argument("--strategy", default="evolutionary", choices=["evolutionary", "replay-trace"])
    ap.add_argument("-o", "--output", type=Path, default=Path("build/bench_host.json"))
    a = ap.parse_args()
    os.environ["TVM_NUM_THREADS"] = str(a.threads)
    torch.set_num_threads(a.threads)

    from edgemobilenet.backends.tvm.linux_target import linux_target

    res: dict = {"threads": a.threads, "runs": a.runs,
                 "cpu": linux_target("host").tvm_target["mcpu"], "machine": platform.machine(),
                 "models": []}
    a.output.parent.mkdir(parents=True, exist_ok=True)
    for spec in a.models.split(","):  # the JSON is rewritten after each model
        res["models"].append(bench_model(spec, a))
        tmp_out = a.output.with_suffix(".tmp")
        tmp_out.write_text(json.dumps(res, indent=1))
        os.replace(tmp_out, a.output)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
