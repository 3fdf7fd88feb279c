#!/usr/bin/env python3
"""Per-image time of the numpy reference executor on MobileNetV2 1.0-224 (goal: < 3 s).

The QGraph comes from the real converter (`quant.convert.quantize_module` on the zoo model,
random weights, calibrated on a few random images), or with `--source builder` from the
hand-built random MobileNetV2 in tests/qgraph_builders.py. Reports the median and min over
`--runs` images plus the time per op type of one run. JSON to stdout, and atomically to
`--out` if given.

    .venv/bin/python tools/bench_reference.py --out build/bench_reference.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.quant.reference import run, run_node

ROOT = Path(__file__).resolve().parent.parent


def build_graph(source: str, width: float, resolution: int) -> QGraph:
    if source == "convert":
        import torch

        from edgemobilenet.models import build
        from edgemobilenet.quant.convert import quantize_module

        torch.manual_seed(0)
        model = build("mobilenet_v2", width=width, resolution=resolution).eval()
        return quantize_module(model, torch.randn(4, 3, resolution, resolution))
    sys.path.insert(0, str(ROOT / "tests"))
    import qgraph_builders

    return qgraph_builders.mobilenet_v2(np.random.default_rng(0), width=width,
                                        resolution=resolution)


def macs(g: QGraph) -> int:
    total = 0
    for n in g.nodes:
        if n.op in ("conv2d", "fully_connected"):
            out = g.tensors[n.outputs[0]].shape
            total += int(np.prod(out[:-1])) * int(np.prod(n.params["weight"].shape))
    return total


def per_op_seconds(g: QGraph, x: np.ndarray) -> dict[str, float]:
    env = {g.inputs[0]: x}
    spent: dict[str, float] = defaultdict(float)
    for node in g.nodes:
        t = time.perf_counter()
        env[node.outputs[0]] = run_node(g, node, [env[i] for i in node.inputs])
        spent[node.op] += time.perf_counter() - t
    return {k: round(v, 4) for k, v in sorted(spent.items(), key=lambda kv: -kv[1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", choices=["convert", "builder"], default="convert")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    t0 = time.perf_counter()
    g = build_graph(args.source, args.width, args.resolution)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    shape = g.tensors[g.inputs[0]].shape
    run(g, rng.integers(-128, 128, shape, dtype=np.int8))  # warm-up
    times = []
    for _ in range(args.runs):
        x = rng.integers(-128, 128, shape, dtype=np.int8)
        t = time.perf_counter()
        run(g, x)
        times.append(time.perf_counter() - t)
    result = {
        "benchmark": "reference_executor",
        "model": f"mobilenet_v2 {args.width}-{args.resolution}",
        "source": args.source,
        "nodes": len(g.nodes),
        "macs": macs(g),
        "runs": args.runs,
        "per_image_s_median": round(statistics.median(times), 4),
        "per_image_s_min": round(min(times), 4),
        "per_image_s": [round(t, 4) for t in times],
        "goal_s": 3.0,
        "meets_goal": statistics.median(times) < 3.0,
        "per_op_s": per_op_seconds(g, x),
        "graph_build_s": round(build_s, 2),
        "numpy": np.__version__,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=args.out.parent, prefix=args.out.name, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
