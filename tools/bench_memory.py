#!/usr/bin/env python3
"""Cortex-M activation memory below the layer-by-layer peak: peak bytes and QEMU -icount
instructions (not cycles) per inference, one run, for each memory plan of each model.

Plans: `fast` (layer by layer), `in_place` (`--memory min` without patches: every legal
depthwise in place), `min` (`--memory min`: patches within +15 % estimated instructions,
in place where it lowers the arena) and, with `--grids J:P,...`, patches forced at join
layer J over a PxP grid, halos recomputed (`J:PxQ`: P rows, Q columns; a trailing `c`:
rows cached down the columns), to show what other plans cost. Models are names
prepared by tools/trained_models.py under --models-dir; each run's input is the model's
real image (NAME.input.npy), and the output (and a patched plan's join output) is checked
against the numpy reference.

    .venv/bin/python tools/trained_models.py
    .venv/bin/python tools/bench_memory.py --models v1_025_96_fmnist_rgb \
        --targets mps2-an386 mps3-an547 --out build/bench_memory.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgemobilenet.backends.mcu import build, inplace, patch
from edgemobilenet.device.transport import open_device
from edgemobilenet.quant import qgraph, reference
from edgemobilenet.targets import load_target


def forced_plan(g: qgraph.QGraph, spec: str, variant: str) -> patch.PatchPlan:
    """`J:P` (a PxP grid at join layer J, halos recomputed), `J:PxQ` (P rows, Q columns) or
    either with a trailing `c` (rows cached down each column)."""
    j, grid = spec.split(":")
    cached = grid.endswith("c")
    p, _, q = grid.rstrip("c").partition("x")
    return patch.make(g, int(j), (int(p), int(q or p)), variant, cached=cached)


def measure(model: str, target_name: str, plan: str, models_dir: Path, work: Path
            ) -> dict[str, Any]:
    """Compile `model` for `target_name` with `plan` and run its image once in QEMU."""
    g = qgraph.load(models_dir / f"{model}.qgraph")
    x = np.load(models_dir / f"{model}.input.npy", allow_pickle=False)
    x = x.reshape(g.tensor(g.inputs[0]).shape)
    target = load_target(target_name)
    chosen = patch.choose
    if plan == "in_place":
        def forced(g, _mode, align, *_a, **_k):
            return None, inplace.choose(g, "min", align)
    elif ":" in plan:
        pp = forced_plan(g, plan, target.kernels or "portable")

        def forced(g, _mode, align, *_a, **_k):
            return pp, inplace.choose(g, "auto", align, pp)
    else:
        forced = chosen
    out = work / f"{model}-{target_name}-{plan.replace(':', '_')}"
    patch.choose = forced
    try:
        doc = build.compile_model(g, target, out, memory="fast" if plan == "fast" else "min")
    finally:
        patch.choose = chosen
    want_all = reference.run(g, x, keep_all=True)
    want = want_all[g.outputs[0]]
    join_exact = None
    with open_device(target, elf=out / "firmware.elf", expected_hash=g.digest()) as dev:
        y, instructions = dev.run(x)
        if doc["patch"]:   # the join output too (logits can hide a wrong patch)
            t = want_all[g.nodes[doc["patch"]["join_index"]].outputs[0]]
            join_exact = bool(np.array_equal(
                dev.get_tensor(doc["patch"]["join_index"]).reshape(t.shape), t))
    return {"model": model, "target": target_name, "cpu": target.cpu, "plan": plan,
            "peak_bytes": doc["arena_bytes"], "lower_bound": doc["arena_lower_bound"],
            "layer_by_layer_bytes": doc["arena_layer_by_layer"],
            "instructions": int(instructions),
            "bit_exact": bool(np.array_equal(y.reshape(want.shape), want)),
            "join_bit_exact": join_exact,
            "patch": doc["patch"], "in_place_layers": len(doc["in_place_layers"]),
            "arena_in": doc["placement"]["arena"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="v1_025_96_fmnist_rgb",
                    help="comma-separated names from tools/trained_models.py")
    ap.add_argument("--targets", nargs="+", default=["mps2-an386"])
    ap.add_argument("--models-dir", type=Path, default=Path("build/trained"))
    ap.add_argument("--grids", default="",
                    help="extra forced plans J:P, J:PxQ, J:PxQc (join layer, grid, cached)")
    ap.add_argument("--work", type=Path, default=Path("build/bench_memory"))
    ap.add_argument("--out", type=Path, default=Path("build/bench_memory.json"))
    args = ap.parse_args()
    plans = ["fast", "in_place", "min"] + [p for p in args.grids.split(",") if p]
    rows = []
    for m in args.models.split(","):
        for t in args.targets:
            for p in plans:
                rows.append(measure(m, t, p, args.models_dir, args.work))
                print(json.dumps(rows[-1]), flush=True)
    for r in rows:   # instructions against the layer-by-layer plan of the same model/target
        base = next(b for b in rows if b["plan"] == "fast" and b["model"] == r["model"]
                    and b["target"] == r["target"])
        r["instructions_vs_layer_by_layer"] = r["instructions"] / base["instructions"]
    doc = {"host": {"machine": platform.machine(), "processor": platform.processor()},
           "unit": "QEMU -icount instructions per inference (not cycles), one run",
           "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=args.out.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
