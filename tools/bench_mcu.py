#!/usr/bin/env python3
"""Cortex-M benchmarks in QEMU (-icount shift=0: instructions, not cycles).

Section `tvm`: each model on each emulated target. Models are names prepared by
tools/trained_models.py under --models-dir (trained by `edgemb train` on Fashion-MNIST, the
real ImageNet MobileNetV2, a pruned one; `v1_025_96_random` is the random-init zoo topology,
labelled as such), or ARCH:WIDTH:RESOLUTION for a random-init zoo model calibrated on random
inputs (labelled). Every conv / FC workload is tuned by MetaSchedule (`tune_mcu`, candidates
measured in QEMU and checked bit-exact), then each layer runs hand-written and tuned TVM
kernel on the same reference activations. Reported: instructions / MAC of hand-written
only, TVM-tuned only and per-layer best, per layer kind and over all conv / FC layers, with
the trial budget and the tuning time. The database is kept (`--db`) so a rerun with the
same budget only measures.

    .venv/bin/python tools/trained_models.py
    .venv/bin/python tools/bench_mcu.py --trials 64 --out build/bench_mcu.json \
        [--models v1_025_96_fmnist,v2_035_96_fmnist] [--targets mps2-an386 mps3-an547]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from edgemobilenet.backends.tvm.mcu.select import select_kernels
from edgemobilenet.backends.tvm.mcu.tune import tasks, tune_mcu
from edgemobilenet.model_source import ModelOptions, load_qgraph
from edgemobilenet.quant import qgraph
from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.targets import load_target


def _ratio(instr: int, macs: int) -> float | None:
    return round(instr / macs, 3) if macs else None


def load_model(model: str, models_dir: Path) -> tuple[QGraph, str]:
    """(QGraph, label) for a prepared model name or a random-init ARCH:WIDTH:RESOLUTION."""
    if ":" in model:
        arch, width, res = model.split(":")
        g = load_qgraph(arch, ModelOptions(width=float(width), resolution=int(res),
                                           num_classes=1000, calib_count=4))
        return g, f"{arch} {width}-{res} (1000 classes, random weights)"
    path = models_dir / f"{model}.qgraph"
    if not path.exists():
        raise SystemExit(f"{path}: run tools/trained_models.py first")
    meta = json.loads((models_dir / "models.json").read_text()).get(model, {})
    return qgraph.load(path), f"{model} ({meta.get('weights', '?')})"


def bench_tvm(target_name: str, model: str, trials: int, db_root: Path, strategy: str,
              models_dir: Path) -> dict:
    g, label = load_model(model, models_dir)
    target = load_target(target_name)
    db = db_root / f"{target_name}-{model.replace(':', '_')}"
    t0 = time.monotonic()
    summary = tune_mcu(g, target, db, trials, strategy=strategy,
                       progress=lambda e: print(f"  {target_name} task {e['task'] + 1}/"
                                                f"{e['of']} {e['kind']:15s} best "
                                                f"{e['best_instructions']} instr "
                                                f"({e['seconds']} s)", file=sys.stderr))
    tune_s = time.monotonic() - t0
    kinds = {i: t.layer.kind for t in tasks(g) for i in t.layers}
    macs = {i: t.layer.macs for t in tasks(g) for i in t.layers}
    with tempfile.TemporaryDirectory(prefix="emb_bench_") as work:
        sel = select_kernels(g, target, db, Path(work))
    rows, tot = [], {}
    for i, c in sorted(sel.choices.items()):
        best = min(c.hand_instructions, c.tvm_instructions)
        rows.append({"layer": g.nodes[i].name, "kind": kinds[i], "macs": macs[i],
                     "hand": c.hand_instructions, "tvm": c.tvm_instructions, "best": best,
                     "chosen": "hand" if c.kernel == "hand" else "tvm",
                     "hand_per_mac": _ratio(c.hand_instructions, macs[i]),
                     "tvm_per_mac": _ratio(c.tvm_instructions, macs[i])})
        for key in (kinds[i], "all"):
            t = tot.setdefault(key, {"macs": 0, "hand": 0, "tvm": 0, "best": 0, "layers": 0})
            t["macs"] += macs[i]
            t["layers"] += 1
            for k in ("hand", "tvm", "best"):
                t[k] += rows[-1][k]
    per_mac = {kind: {f"{k}_per_mac": _ratio(t[k], t["macs"]) for k in ("hand", "tvm", "best")}
               | t for kind, t in tot.items()}
    return {"target": target_name, "cpu": target.cpu, "kernels": target.kernels,
            "model": label,
            "trials_per_task": trials, "strategy": strategy, "tasks": len(summary["tasks"]),
            "new_trials": sum(t["new_trials"] for t in summary["tasks"]),
            "tuning_seconds": round(tune_s, 1), "totals": per_mac, "layers": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", nargs="+", default=["mps2-an386"])
    ap.add_argument("--models", default="v1_025_96_fmnist",
                    help="comma-separated names from tools/trained_models.py, or "
                         "ARCH:WIDTH:RESOLUTION (random init)")
    ap.add_argument("--models-dir", type=Path, default=Path("build/trained"))
    ap.add_argument("--trials", type=int, default=64, help="measured candidates per task")
    ap.add_argument("--strategy", default="evolutionary",
                    choices=["evolutionary", "replay-trace"])
    ap.add_argument("--db", type=Path, default=Path("build/tune_db"))
    ap.add_argument("--out", type=Path, default=Path("build/bench_mcu.json"))
    args = ap.parse_args()
    doc = {"tvm": [bench_tvm(t, m, args.trials, args.db, args.strategy, args.models_dir)
                   for m in args.models.split(",") for t in args.targets]}
    text = json.dumps(doc, indent=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=args.out.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, args.out)
    print(text)


if __name__ == "__main__":
    main()
