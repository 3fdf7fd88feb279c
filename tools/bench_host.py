"""Host latency: our TVM int8 module against the runtimes a user would pick instead, each in
the configuration its documentation recommends, on this CPU. One command:

    .venv/bin/python tools/bench_host.py -o build/bench_host.json

Options: --models arch:width:res,... (default MobileNetV2, MobileNetV1, MobileNetV3-Large,
all 1.0-224), --threads 2, --runs 50, --tune-db-root DIR (one MetaSchedule database per
model: `<root>/<arch>-<width>-<res>`; tuned first with --trials-per-task when empty).

Per model, all in this one process, same threads, median of --runs after warm-up:
- onnxruntime int8 from its own `quant_pre_process` + `quantize_static` (per-channel,
  calibrated on crops of the bundled photos): QOperator U8S8, QDQ U8S8, QDQ S8S8,
  QOperator S8S8; its docs recommend U8S8 on x86 (S8S8 QOperator is marked slow there);
- our QDQ export (`edgemb export m.qgraph -o m.onnx`) with default session options (never
  `session.qdqisint8allowed=1`: on x86 it forces onnxruntime's slow S8S8 kernels);
- LiteRT (`ai-edge-litert`, XNNPACK, its default) on the int8 `.tflite` of the same QGraph
  (`edgemb export m.qgraph -o m.tflite`);
- onnxruntime fp32 and torch float (the float model);
- edgemb TVM int8 untuned, and tuned when a database is given; bit-exactness checked.
Ratios are against the fastest int8 peer. MobileNetV2 has its ImageNet weights; the others
are random-init (labelled). The CPU model and its int8 ISA are printed and written.
Timings taken while other jobs load the machine are indicative only.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402

MODELS = "mobilenet_v2:1.0:224,mobilenet_v1:1.0:224,mobilenet_v3_large:1.0:224"


def _median_ms(fn, runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def _ort_session(path: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _ort_ms(path: Path, x: np.ndarray, threads: int, runs: int) -> float:
    s = _ort_session(path, threads)
    feed = {s.get_inputs()[0].name: x}
    return _median_ms(lambda: s.run(None, feed), runs)


def _litert_ms(path: Path, threads: int, runs: int) -> float:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    it.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
    return _median_ms(it.invoke, runs)


def _tvm(g, x: np.ndarray, tune_db: str | None, runs: int) -> dict:
    import tvm
    from tvm import relax

    from edgemobilenet.backends.tvm.build import compile_qgraph, run_local
    from edgemobilenet.backends.tvm.linux_target import linux_target
    from edgemobilenet.quant import reference

    t = time.perf_counter()
    ex = compile_qgraph(g, linux_target("host").tvm_target, tune_db)
    compile_s = time.perf_counter() - t
    ref = reference.run(g, x)
    exact = all(np.array_equal(a, ref[k]) for k, a in run_local(ex, g, x).items())
    vm = relax.VirtualMachine(ex, tvm.cpu())
    vm.set_input("main", tvm.runtime.tensor(x))
    vm.invoke_stateful("main")  # warm-up
    f = vm.time_evaluator("invoke_stateful", tvm.cpu(), number=1, repeat=runs)
    return {"ms": float(np.median(f("main").results) * 1e3), "compile_s": round(compile_s, 1),
            "bit_exact": bool(exact)}


def _tune(g, db: Path, trials_per_task: int, strategy: str) -> dict:
    """Tune into `db` unless it holds records; return the recorded budget and wall time."""
    from edgemobilenet.backends.tvm.linux_target import linux_target
    from edgemobilenet.backends.tvm.tune import tune

    info = db / "bench_tune.json"
    if info.is_file():
        return json.loads(info.read_text())
    t = time.perf_counter()
    summary = tune(g, linux_target("host"), db, trials=100_000, local=True,
                   trials_per_task=trials_per_task, strategy=strategy)
    doc = {"trials_per_task": trials_per_task, "strategy": strategy,
           "tasks": len(summary["tasks"]), "records": summary["records"],
           "tune_s": round(time.perf_counter() - t, 1)}
    info.write_text(json.dumps(doc, indent=1))
    return doc


def bench_model(spec: str, a: argparse.Namespace, work: Path) -> dict:
    from edgemobilenet.quant.onnx_export import export_qdq

    m = peers.load(spec)
    calib = peers.calibration(m, a.calib)
    g = peers.qgraph(m, calib)
    x8 = peers.sample_int8_input(g)
    xf = calib[:1].numpy()
    r: dict = {"model": spec, "weights": m.weights, "macs": peers.macs(g), "rows": []}

    def add(kind: str, runtime: str, config: str, fn, note: str = "") -> None:
        try:
            out = fn()
            row = {"kind": kind, "runtime": runtime, "config": config,
                   **(out if isinstance(out, dict) else {"ms": out})}
        except Exception as e:  # every configuration is printed, failed ones too
            row = {"kind": kind, "runtime": runtime, "config": config, "error": str(e)[:300]}
        if note:
            row["note"] = note
        r["rows"].append(row)
        print(f"  {spec} {runtime} [{config}]: {row.get('ms', row.get('error'))}", flush=True)

    db = Path(a.tune_db_root) / spec.replace(":", "-") if a.tune_db_root else None
    if db is not None:   # tune first, then measure everything back to back
        r["tuning"] = _tune(g, db, a.trials_per_task, a.strategy)
    fp32 = peers.float_onnx(m, work / "float.onnx")
    for config in peers.ORT_CONFIGS:
        q = work / f"ort-{config.replace(' ', '-')}.onnx"
        note = ("onnxruntime's docs: S8S8 in QOperator format is slow on x86"
                if config == "QOperator S8S8" else "")
        add("int8 peer", "onnxruntime", f"own quantize_static {config}, per-channel",
            lambda: _ort_ms(peers.ort_quantized(fp32, q, calib, config), xf, a.threads,
                            a.runs), note)
    ours_onnx = work / "ours_qdq.onnx"
    export_qdq(g, ours_onnx)
    add("int8 peer", "onnxruntime", "our QDQ export, default session options",
        lambda: _ort_ms(ours_onnx, x8, a.threads, a.runs))
    tfl, route = peers.tflite_int8(g, work / "model.tflite")
    if tfl:
        add("int8 peer", "LiteRT", "XNNPACK (default), int8 .tflite: " + route,
            lambda: _litert_ms(tfl, a.threads, a.runs))
    else:
        r["rows"].append({"kind": "int8 peer", "runtime": "LiteRT", "config": "-",
                          "error": route})
    add("float", "onnxruntime", "fp32 (float ONNX export)",
        lambda: _ort_ms(fp32, xf, a.threads, a.runs))
    with torch.no_grad():
        xt = calib[:1]
        add("float", "torch", "float, eval, no_grad", lambda: _median_ms(
            lambda: m.module(xt), a.runs))
    pool = f"TVM_BIND_THREADS={os.environ.get('TVM_BIND_THREADS', '1 (TVM default)')}"
    add("ours", "edgemb TVM int8", f"default schedules, {pool}", lambda: _tvm(g, x8, None, a.runs))
    if db is not None:
        add("ours", "edgemb TVM int8", f"tuned ({db})", lambda: _tvm(g, x8, str(db), a.runs))
    peers.rank_against_fastest(r, "ms", lambda x: x["kind"] == "int8 peer", "fastest_int8_peer")
    return r


def print_table(res: dict) -> None:
    cpu = res["cpu"]
    print(f"\n{cpu['model']} ({', '.join(cpu['int8_isa']) or 'no int8 SIMD found'}), "
          f"{res['threads']} threads, batch 1, median of {res['runs']} (ms)")
    for m in res["models"]:
        print(f"\n{m['model']}  ({m['weights']}; {m['macs'] / 1e6:.1f} M MACs)")
        print(f"  {'kind':16} {'runtime':16} {'configuration':60} {'ms':>8} {'vs peer':>8}")
        for x in m["rows"]:
            if "ms" in x:
                extra = "" if x.get("bit_exact", True) else "  NOT bit-exact"
                print(f"  {x['kind']:16} {x['runtime']:16} {x['config'][:60]:60} "
                      f"{x['ms']:>8.2f} {x['vs_fastest_int8_peer']:>8}{extra}")
            else:
                print(f"  {x['kind']:16} {x['runtime']:16} {x['config'][:60]:60} failed: "
                      f"{x['error'][:70]}")
        print(f"  fastest int8 peer: {m.get('fastest_int8_peer')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=MODELS, help="comma-separated arch:width:resolution")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--calib", type=int, default=32, help="calibration crops")
    ap.add_argument("--tune-db-root", default=None,
                    help="one MetaSchedule database per model below this directory")
    ap.add_argument("--trials-per-task", type=int, default=8)
    ap.add_argument("--strategy", default="evolutionary", choices=["evolutionary", "replay-trace"])
    ap.add_argument("-o", "--output", type=Path, default=Path("build/bench_host.json"))
    a = ap.parse_args()
    from edgemobilenet.device.tvm_vm import runtime_env
    os.environ.update(runtime_env(a.threads))   # before TVM's thread pool starts
    torch.set_num_threads(a.threads)
    import onnxruntime
    onnxruntime.set_default_logger_severity(3)

    res: dict = {"threads": a.threads, "runs": a.runs, "cpu": peers.cpu_description(),
                 "tvm_bind_threads": os.environ["TVM_BIND_THREADS"],
                 "versions": _versions(), "models": []}
    a.output.parent.mkdir(parents=True, exist_ok=True)
    for spec in a.models.split(","):   # the JSON is rewritten after each model
        with tempfile.TemporaryDirectory(prefix="edgemb-bench-host-") as tmp:
            res["models"].append(bench_model(spec, a, Path(tmp)))
        tmp_out = a.output.with_suffix(".tmp")
        tmp_out.write_text(json.dumps(res, indent=1))
        os.replace(tmp_out, a.output)
    print_table(res)


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("onnxruntime", "ai-edge-litert", "torch", "apache-tvm"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


if __name__ == "__main__":
    main()
