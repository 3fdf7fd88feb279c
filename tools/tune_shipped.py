"""Tune the zoo's workloads for a Pi target by instruction count and write the database the
package ships (`edgemobilenet/assets/tune_db/<target>.json`, applied by `edgemb compile`).

    python tools/tune_shipped.py --target rpi4 --trials-per-task 4 --work build/ship-rpi4
    python tools/tune_shipped.py --target rpi4 --trials-per-task 16 --work build/ship-rpi4 \
        --ship --count

Steps, for each of the zoo's models (MobileNetV2 1.0-224 with its ImageNet weights,
MobileNetV1 and V3-Large 1.0-224 random-initialised: a workload depends on shapes only;
`tools/peers.py`) quantized: `edgemb tune --emulate` over the knob space
(`backends/tvm/knob_space.py`) with the given budget per kernel into one database, so a
workload shared by models is tuned once; resumable: a larger budget on the same `--work`
continues the smaller run (the budget study of the README: wall time per run goes to
`--work/runs.json`); `--ship` takes each kernel's best record (also for kernels sharing its
convolution), compiles each model with them and with the default schedules, counts every
kernel alone in both on the emulated core and writes the package's file with the records
whose kernels got fewer instructions in every model that has them (`verified`); `--count`
counts instructions per inference with the default schedules and with the shipped
database, per model.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = "mobilenet_v2:1.0:224,mobilenet_v1:1.0:224,mobilenet_v3_large:1.0:224"


def model(work: Path, spec: str):
    """The quantized model `spec` (`arch:width:resolution`), kept in `work`."""
    from edgemobilenet.quant import qgraph as qg

    path = work / f"{spec.replace(':', '-')}.qgraph"
    if not path.is_file():
        import peers

        m = peers.load(spec)
        qg.save(peers.qgraph(m, peers.calibration(m)), path)
    return qg.load(path)


def candidates(g, lt, db_dir: Path) -> list[dict]:
    """Per kernel of the model with knobs: its task's best record (MetaSchedule's anchor-block
    match, so kernels sharing a convolution with the tuned one get it too) when that is not
    the default, rescheduled on this kernel: {name, workload, knobs, trace}."""
    import tvm

    from edgemobilenet.backends.tvm import knob_space
    from edgemobilenet.backends.tvm.build import lower, tvm_target
    from edgemobilenet.backends.tvm.ms_database import open_database, trace_json, workload_key
    from edgemobilenet.backends.tvm.tvm_compat import normalize_mod

    mod = lower(g, lt.tvm_target, schedule=False)
    tgt, ks, db = tvm_target(lt.tvm_target), knob_space.for_module(lt.tvm_target, mod), \
        open_database(db_dir)
    out = []
    for gv, f in mod.functions.items():
        if not isinstance(f, tvm.tirx.PrimFunc) or len(ks.choices(f)) < 2:
            continue
        fmod = normalize_mod(f)
        with tgt:
            rec = db.query_tuning_record(fmod, tgt, gv.name_hint)
        knobs = rec and knob_space.record_knobs(rec.trace)
        if knobs in (None, knob_space.DEFAULT_TEXT):
            continue
        sch = ks(fmod["main"], knob_space.parse_knobs(knobs))
        if sch is not None:
            out.append({"name": gv.name_hint, "workload": workload_key(fmod), "knobs": knobs,
                        "trace": trace_json(sch.trace)})
    return out


def kernel_counts(worker, build: Path) -> dict[str, tuple[int, int, str]]:
    """{kernel: (instructions of one call alone, calls per inference, schedule source)} of a
    build's `kernels.so` on the emulated core (zero arguments)."""
    m = json.loads((build / "manifest.json").read_text())
    lib = str(build / m["kernel_library"])
    return {k["name"]: (worker.measure(lib, k["args"], k["name"]), k["calls"], k["schedule"])
            for k in m["kernels"]}


def counted(g, lt, work: Path, kernels: list[dict]) -> list[dict]:
    """The candidates with their kernel's instructions (compiled in the whole module, counted
    alone on the emulated core) and the default schedule's, and whether it `gains`."""
    from edgemobilenet.backends.tvm import tune_dbs
    from edgemobilenet.backends.tvm.export import compile_linux
    from edgemobilenet.backends.tvm.icount_runner import CountingWorker

    work.mkdir(parents=True, exist_ok=True)
    cand = work / "candidates.json"
    cand.write_text(json.dumps({"target": lt.name, "kernels": kernels}))
    compile_linux(g, lt, work / "build-default", tune_dbs.NONE)
    compile_linux(g, lt, work / "build-candidates", cand)
    worker = CountingWorker(lt.qemu_cpu, timeout_sec=600)
    try:
        base = kernel_counts(worker, work / "build-default")
        tuned = kernel_counts(worker, work / "build-candidates")
    finally:
        worker.close()
    rows = []
    for k in kernels:
        (n, calls, src), (n0, _, _) = tuned[k["name"]], base[k["name"]]
        ok = src == str(cand) and n < n0
        rows.append(dict(k, instructions=n, default_instructions=n0, calls=calls, gains=ok))
        print(f"{k['name'][:48]:48s} x{calls} {n0:>11,d} -> {n:>11,d} {k['knobs']}"
              f"{'' if ok else '  (dropped)'}", flush=True)
    return rows


def verified(rows: list[dict]) -> list[dict]:
    """One row per workload whose every kernel (of every model) gains, biggest gain first."""
    gain: dict[str, bool] = {}
    for r in rows:
        gain[r["workload"]] = gain.get(r["workload"], True) and r["gains"]
    keep = [r for r in rows if gain[r["workload"]]]
    return sorted({r["workload"]: r for r in keep}.values(), key=lambda r: (
        r["instructions"] - r["default_instructions"]) * r["calls"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="rpi4")
    ap.add_argument("--models", default=MODELS, help="comma-separated arch:width:resolution")
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
    graphs = {spec: model(a.work, spec) for spec in a.models.split(",")}
    runs_path = a.work / "runs.json"
    for spec, g in graphs.items():
        t0 = time.monotonic()
        s = tune(g, lt, a.work / "db", trials=10 ** 6, trials_per_task=a.trials_per_task,
                 emulate=True, timeout_sec=300)
        run = {"model": spec, "trials_per_task": a.trials_per_task, "tasks": len(s["tasks"]),
               "new_records": s["new_records"], "records": s["records"],
               "wall_s": round(time.monotonic() - t0, 1),
               "wall_note": "host wall time on a loaded 2-core machine (indicative)"}
        runs = json.loads(runs_path.read_text()) if runs_path.is_file() else []
        runs_path.write_text(json.dumps(runs + [run], indent=1))
        print(json.dumps(run), flush=True)
    if a.ship:
        rows = []
        for spec, g in graphs.items():
            print(spec, flush=True)
            rows += counted(g, lt, a.work / spec.replace(":", "-"),
                            candidates(g, lt, a.work / "db"))
        kernels = verified(rows)
        doc = {"target": a.target, "cpu": lt.qemu_cpu, "models": list(graphs),
               "trials_per_task": a.trials_per_task,
               "cost": "instructions of one call on the emulated core (qemu-aarch64 plugin)",
               "verified": "kept only where the kernel, compiled in the whole module and "
                           "counted alone on the emulated core, beats its default schedule "
                           "in every model that has it",
               "kernels": [{f: r[f] for f in ("workload", "knobs", "trace", "instructions",
                                              "default_instructions", "calls")}
                           for r in kernels]}
        out = tune_dbs.SHIPPED_ROOT / f"{a.target}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, separators=(",", ":")))
        gain = sum((r["default_instructions"] - r["instructions"]) * r["calls"] for r in kernels)
        print(f"wrote {out}: {len(kernels)} kernels, {out.stat().st_size:,} B, "
              f"{gain:,} instructions per inference fewer (kernels alone; a shared workload "
              f"counted in one model)", flush=True)
    if a.count:
        counts = {spec: count(g, lt, a.work / spec.replace(":", "-")) for spec, g in
                  graphs.items()}
        (a.work / f"counts-{a.trials_per_task}.json").write_text(json.dumps(counts, indent=1))
        if not all(c["bit_exact"] for m in counts.values() for c in m.values()):
            sys.exit("the emulated output differs from the numpy reference")


def count(g, lt, work: Path) -> dict:
    """Instructions per inference of `g` with the default schedules and with the shipped
    database, each checked against the numpy reference."""
    import numpy as np

    from edgemobilenet.backends.tvm import tune_dbs
    from edgemobilenet.backends.tvm.export import compile_linux
    from edgemobilenet.device.pi_count import count_build
    from edgemobilenet.quant import reference

    # the guest's input (pi_guest._input: numpy's generator, seed 0) through the reference
    (inp,) = g.inputs
    x = np.random.default_rng(0).integers(-128, 128, size=(1, *g.tensors[inp].shape[1:]),
                                           dtype=np.int8)
    (want,) = reference.run(g, x).values()
    counts = {}
    for label, db in (("default", tune_dbs.NONE), ("shipped", None)):
        m = compile_linux(g, lt, work / f"build-{label}", db)
        c = count_build(work / f"build-{label}", lt.qemu_cpu, inferences=2)
        counts[label] = {"instructions": round(c.per_inference),
                         "tuned_kernels": sum(d["kernels"] for d in m["tune_dbs"]),
                         "notes": m["tune_notes"],
                         "bit_exact": c.output["values"] == want.reshape(-1).tolist()}
        print(work.name, label, json.dumps(counts[label]), flush=True)
    return counts


if __name__ == "__main__":
    main()
