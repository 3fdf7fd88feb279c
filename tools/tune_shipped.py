"""Tune the zoo's workloads for a Pi target by instruction count and write the database the
package ships (`edgemobilenet/assets/tune_db/<target>.json`, applied by `edgemb compile`).

    python tools/tune_shipped.py --target rpi4 --trials-per-task 4 --work build/ship-rpi4
    python tools/tune_shipped.py --target rpi4 --trials-per-task 16 --work build/ship-rpi4 \
        --ship --count

Steps: MobileNetV2 1.0-224 (ImageNet weights; `tools/peers.py`) quantized; `edgemb tune
--emulate` over the knob space (`backends/tvm/knob_space.py`) with the given budget per
kernel, resumable: a larger budget on the same `--work` continues the smaller run (the
budget study of the README: wall time per run goes to `--work/runs.json`); `--ship` keeps
each kernel's best record where it beats the default knobs; `--count` counts instructions
per inference on the target's emulated core with the default schedules and with the
shipped database.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODEL = "mobilenet_v2:1.0:224"


def model(work: Path):
    from edgemobilenet.quant import qgraph as qg

    path = work / "model.qgraph"
    if not path.is_file():
        import peers

        m = peers.load(MODEL)
        qg.save(peers.qgraph(m, peers.calibration(m)), path)
    return qg.load(path)


def shipped_doc(db_dir: Path, target: str, cpu: str, trials_per_task: int) -> dict:
    """Per kernel the best valid record, where it is better than the default knobs."""
    from edgemobilenet.backends.tvm.knob_space import DEFAULT_TEXT, record_knobs
    from edgemobilenet.backends.tvm.ms_database import open_database, trace_json, workload_key

    best: dict[str, dict] = {}
    default: dict[str, int] = {}
    for r in open_database(db_dir).get_all_tuning_records():
        if not r.run_secs or min(float(s) for s in r.run_secs) >= 1e9:
            continue
        key, n = workload_key(r.workload.mod), round(min(float(s) for s in r.run_secs) * 1e9)
        knobs = record_knobs(r.trace)
        if knobs == DEFAULT_TEXT:
            default[key] = min(n, default.get(key, n))
        if key not in best or n < best[key]["instructions"]:
            best[key] = {"workload": key, "knobs": knobs, "instructions": n,
                         "trace": trace_json(r.trace)}
    kernels = [dict(k, default_instructions=default[w]) for w, k in best.items()
               if w in default and k["knobs"] != DEFAULT_TEXT]
    return {"target": target, "cpu": cpu, "model": MODEL, "trials_per_task": trials_per_task,
            "cost": "instructions of one call on the emulated core (qemu-aarch64 plugin)",
            "kernels": sorted(kernels, key=lambda k: k["default_instructions"] -
                              k["instructions"], reverse=True)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="rpi4")
    ap.add_argument("--trials-per-task", type=int, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--ship", action="store_true", help="write the package's database")
    ap.add_argument("--count", action="store_true", help="instructions per inference")
    a = ap.parse_args()

    from edgemobilenet.backends.tvm import tune_dbs
    from edgemobilenet.backends.tvm.linux_target import linux_target
    from edgemobilenet.backends.tvm.tune import tune

    lt = linux_target(a.target)
    a.work.mkdir(parents=True, exist_ok=True)
    g = model(a.work)
    t0 = time.monotonic()
    s = tune(g, lt, a.work / "db", trials=10 ** 6, trials_per_task=a.trials_per_task,
             emulate=True, timeout_sec=300)
    run = {"trials_per_task": a.trials_per_task, "tasks": len(s["tasks"]),
           "new_records": s["new_records"], "records": s["records"],
           "wall_s": round(time.monotonic() - t0, 1),
           "wall_note": "host wall time on a loaded 2-core machine (indicative)"}
    runs_path = a.work / "runs.json"
    runs = json.loads(runs_path.read_text()) if runs_path.is_file() else []
    runs_path.write_text(json.dumps(runs + [run], indent=1))
    print(json.dumps(run), flush=True)
    if a.ship:
        doc = shipped_doc(a.work / "db", a.target, lt.qemu_cpu, a.trials_per_task)
        out = tune_dbs.SHIPPED_ROOT / f"{a.target}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, separators=(",", ":")))
        print(f"wrote {out}: {len(doc['kernels'])} kernels, {out.stat().st_size:,} B")
    if a.count:
        from edgemobilenet.backends.tvm.export import compile_linux
        from edgemobilenet.device.pi_count import count_build

        counts = {}
        for label, db in (("default", tune_dbs.NONE), ("shipped", None)):
            m = compile_linux(g, lt, a.work / f"build-{label.replace(' ', '-')}", db)
            c = count_build(a.work / f"build-{label.replace(' ', '-')}", lt.qemu_cpu,
                            inferences=2)
            counts[label] = {"instructions": round(c.per_inference),
                             "tuned_kernels": sum(d["kernels"] for d in m["tune_dbs"]),
                             "notes": m["tune_notes"]}
            print(label, json.dumps(counts[label]), flush=True)
        (a.work / f"counts-{a.trials_per_task}.json").write_text(json.dumps(counts, indent=1))


if __name__ == "__main__":
    main()
