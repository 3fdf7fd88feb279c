"""Instructions per inference on an emulated Raspberry Pi core: our TVM module against
LiteRT (XNNPACK, and without) and onnxruntime (its own static int8 quantization), all run
by the same aarch64 Python under `qemu-aarch64 -cpu <core>` with the counting plugin, one
thread, same model. Instructions, not cycles and not Pi milliseconds; a ratio of work.

    .venv/bin/python tools/bench_pi_emulated.py -o build/bench_pi_emulated.json \
        [--target rpi4] [--models mobilenet_v2:1.0:224,mobilenet_v1:1.0:224,...] \
        [--tune-db DIR] [--ort-configs "QDQ U8S8,QDQ S8S8"]

Needs `edgemb board prepare` (tools/setup.sh runs it): the aarch64 root with the peers'
wheels. MobileNetV2 1.0-224 has ImageNet weights; other models are random-init (labelled).
Calibration: crops of the bundled sample photos, the same for us and onnxruntime.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402

from edgemobilenet.targets import CpuInfo  # noqa: E402

MODELS = "mobilenet_v2:1.0:224,mobilenet_v1:1.0:224,mobilenet_v3_large:1.0:224"


def bench_model(spec: str, a: argparse.Namespace, cpu: str, cpuinfo: CpuInfo | None,
                work: Path) -> dict:
    from edgemobilenet.backends.tvm import tune_dbs
    from edgemobilenet.backends.tvm.export import compile_linux
    from edgemobilenet.device.pi_count import count_build, count_inference

    work.mkdir(parents=True, exist_ok=True)
    m = peers.load(spec)
    calib = peers.calibration(m, a.calib)
    g = peers.qgraph(m, calib)
    macs = peers.macs(g)
    r: dict = {"model": spec, "weights": m.weights, "macs": macs, "rows": []}

    def add(runtime: str, config: str, fn) -> None:
        t0 = time.monotonic()
        try:
            c = fn()
            row = {"runtime": runtime, "config": config,
                   "instructions": int(round(c.per_inference)),
                   "per_mac": round(c.per_inference / macs, 3)}
        except Exception as e:  # every configuration is printed, failed ones too
            row = {"runtime": runtime, "config": config, "error": str(e)[:300]}
        row["seconds"] = round(time.monotonic() - t0, 1)
        r["rows"].append(row)
        print(f"  {spec} {runtime} [{config}]: {row.get('instructions', row.get('error'))}",
              flush=True)

    ours = work / "ours"
    t0 = time.monotonic()
    compile_linux(g, a.target, ours, tune_db=a.tune_db)
    r["compile_s"] = round(time.monotonic() - t0, 1)
    shipped = tune_dbs.shipped(a.target)
    add("edgemb TVM int8", f"compile --target {a.target}" +
        (f" --tune-db {a.tune_db}" if a.tune_db else
         f" (package database {shipped.name})" if shipped else " (default schedules: no "
         "database shipped for the target)"),
        lambda: count_build(ours, cpu, inferences=a.inferences))

    tfl, route = peers.tflite_int8(g, work / "model.tflite")
    r["tflite_route"] = route
    if tfl:
        add("LiteRT int8", "XNNPACK (default)", lambda: count_inference(
            "litert", tfl, cpu, cpuinfo=cpuinfo, inferences=a.inferences))
        add("LiteRT int8", "builtin kernels, no XNNPACK", lambda: count_inference(
            "litert-noxnnpack", tfl, cpu, cpuinfo=cpuinfo, inferences=a.inferences))
    else:
        r["rows"].append({"runtime": "LiteRT int8", "config": "-", "error": route})
    fp32 = peers.float_onnx(m, work / "float.onnx")
    for config in a.ort_configs.split(","):
        q = work / f"ort-{config.replace(' ', '-')}.onnx"
        add("onnxruntime int8", f"own quantize_static {config}, per-channel",
            lambda: count_inference("ort", peers.ort_quantized(fp32, q, calib, config), cpu,
                                    cpuinfo=cpuinfo, inferences=a.inferences))
    peers.rank_against_fastest(r, "instructions", lambda x: not x["runtime"].startswith("edgemb"),
                               "fastest_peer")
    return r


def print_table(res: dict) -> None:
    print(f"\nemulated {res['cpu']} ({res['target']}), 1 thread, instructions per inference "
          f"(QEMU plugin count: not cycles, not Pi time)")
    for m in res["models"]:
        print(f"\n{m['model']}  ({m['weights']}; {m['macs'] / 1e6:.1f} M MACs)")
        print(f"  {'runtime':18} {'configuration':52} {'instructions':>14} {'per MAC':>8} "
              f"{'vs peer':>8}")
        for x in m["rows"]:
            if "instructions" in x:
                print(f"  {x['runtime']:18} {x['config'][:52]:52} {x['instructions']:>14,} "
                      f"{x['per_mac']:>8.3f} {x.get('vs_fastest_peer', ''):>8}")
            else:
                print(f"  {x['runtime']:18} {x['config'][:52]:52} failed: {x['error'][:80]}")
        print(f"  tflite: {m.get('tflite_route')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="rpi4", help="Linux target (its [qemu] cpu is used)")
    ap.add_argument("--models", default=MODELS, help="comma-separated arch:width:resolution")
    ap.add_argument("--tune-db", default=None, help="a tuning database for our compile")
    ap.add_argument("--ort-configs", default=",".join(peers.ORT_CONFIGS),
                    help=f"onnxruntime configurations ({', '.join(peers.ORT_CONFIGS)})")
    ap.add_argument("--calib", type=int, default=32, help="calibration crops")
    ap.add_argument("--inferences", type=int, default=2, help="inferences counted (after one "
                    "warm-up); counts repeat within 0.1 %%")
    ap.add_argument("--work", type=Path, default=Path("build/bench_pi"))
    ap.add_argument("-o", "--output", type=Path, default=Path("build/bench_pi_emulated.json"))
    a = ap.parse_args()
    torch_threads = os.environ.get("OMP_NUM_THREADS", "2")
    import torch
    torch.set_num_threads(int(torch_threads))

    from edgemobilenet.backends.tvm.linux_target import linux_target
    from edgemobilenet.device import pi_emulator

    lt = linux_target(a.target)
    pi_emulator.prepare_peers(lambda msg: print(msg, flush=True))
    res = {"target": lt.name, "cpu": lt.qemu_cpu, "threads": 1, "inferences": a.inferences,
           "unit": "instructions per inference (QEMU TCG plugin; not cycles, not Pi time)",
           "host_cpu": peers.cpu_description()["model"], "models": []}
    a.output.parent.mkdir(parents=True, exist_ok=True)
    for spec in a.models.split(","):   # the JSON is rewritten after each model
        res["models"].append(bench_model(spec, a, lt.qemu_cpu, lt.cpuinfo,
                                         a.work / f"{lt.name}-{spec.replace(':', '-')}"))
        tmp = a.output.with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=1))
        os.replace(tmp, a.output)
    print_table(res)


if __name__ == "__main__":
    main()
