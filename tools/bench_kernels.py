#!/usr/bin/env python3
"""Instructions per MAC of the Cortex-M kernels in QEMU (-icount shift=0, SysTick).

Layers: pointwise 24x24x64->64, depthwise 3x3 on 24x24x64 (stride 1 and 2), first conv
3x3 s2 96x96x3->8, FC 256->10; portable and DSP on mps2-an386 (Cortex-M4), portable and
MVE on mps3-an547 (Cortex-M55). Then every conv / FC layer of MobileNetV1 0.25-96 (random
weights, 1000 classes) for DSP on M4 and M7 (mps2-an500) and MVE: whole-model instructions
/ MAC, weighted by MACs (pooling and softmax not included), and the bytes of packed weights
per variant (flash). Every output is also checked bit-exact against the numpy reference.
Prints JSON and writes it (atomically) to --out. Instructions, not cycles.

    .venv/bin/python tools/bench_kernels.py --out build/bench_kernels.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgemobilenet.backends.mcu import kernel_check as kc
from edgemobilenet.backends.mcu.packing import pack_weights
from edgemobilenet.quant.qgraph import QNode, QTensor
from edgemobilenet.quant.reference import apply

RUNS = [("portable", "mps2-an386"), ("dsp", "mps2-an386"), ("portable", "mps3-an547"),
        ("mve", "mps3-an547")]
# name: (h, w, c_in, c_out, kernel, stride, padding, groups) or ("fc", c_in, c_out)
LAYERS = {
    "pointwise_24x24x64_64": (24, 24, 64, 64, 1, 1, [0, 0, 0, 0], 1),
    "depthwise3x3_s1_24x24x64": (24, 24, 64, 64, 3, 1, [1, 1, 1, 1], 64),
    "depthwise3x3_s2_24x24x64": (24, 24, 64, 64, 3, 2, [0, 0, 1, 1], 64),
    "first_conv3x3_s2_96x96x3_8": (96, 96, 3, 8, 3, 2, [0, 0, 1, 1], 1),
    "fc_256_10": ("fc", 256, 10),
}
CMSIS_NN_M4 = {"pointwise": 2.35, "depthwise": 8.1, "first_conv": 6.1}   # measured (DESIGN)
MODEL_RUNS = [("dsp", "mps2-an386"), ("dsp", "mps2-an500"), ("mve", "mps3-an547")]


def mobilenet_v1_layers(alpha: float = 0.25, res: int = 96, classes: int = 1000) -> dict:
    """MobileNetV1 conv / FC layers as LAYERS-style specs (TF "same" padding)."""
    ch = lambda c: int(c * alpha)
    out, h, c = {}, res // 2, ch(32)
    out["conv1"] = (res, res, 3, c, 3, 2, [0, 0, 1, 1], 1)
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + \
        [(1024, 2), (1024, 1)]
    for i, (oc, s) in enumerate(plan, 1):
        pad = [1, 1, 1, 1] if s == 1 else [0, 0, 1, 1]
        out[f"dw{i}"] = (h, h, c, c, 3, s, pad, c)
        h //= s
        out[f"pw{i}"] = (h, h, c, ch(oc), 1, 1, [0, 0, 0, 0], 1)
        c = ch(oc)
    out["fc"] = ("fc", c, classes)
    return out


def _requant_params(rng: np.random.Generator, node: QNode, oc: int, terms: int) -> None:
    node.params["bias"] = rng.integers(-20000, 20000, oc, dtype=np.int32)
    node.params["multiplier"] = rng.integers(1 << 30, (1 << 31) - 1, oc, dtype=np.int32)
    node.params["shift"] = np.full(oc, -round(math.log2(math.sqrt(terms) * 5000 / 60)),
                                   np.int32)
    node.attrs.update(act_min=-128, act_max=127)


def layer(name: str, spec: tuple, rng: np.random.Generator) -> tuple:
    """(node, in tensors, out tensor, inputs, MACs) with random int8 data."""
    if spec[0] == "fc":
        _, c, oc = spec
        node = QNode(name, "fully_connected", ["x"], ["y"], {})
        node.params["weight"] = rng.integers(-127, 128, (oc, c), dtype=np.int8)
        _requant_params(rng, node, oc, c)
        xt, yt = QTensor("x", (1, c), zero_point=-3), QTensor("y", (1, oc), zero_point=5)
        return node, [xt], yt, [rng.integers(-128, 128, (1, c), dtype=np.int8)], c * oc
    h, w, c, oc, k, s, pad, g = spec
    node = QNode(name, "conv2d", ["x"], ["y"], {"stride": [s, s], "padding": pad,
                                                "dilation": [1, 1], "groups": g})
    node.params["weight"] = rng.integers(-127, 128, (oc, k, k, c // g), dtype=np.int8)
    _requant_params(rng, node, oc, k * k * c // g)
    oh, ow = (h + pad[0] + pad[2] - k) // s + 1, (w + pad[1] + pad[3] - k) // s + 1
    xt = QTensor("x", (1, h, w, c), zero_point=-7)
    yt = QTensor("y", (1, oh, ow, oc), zero_point=3)
    x = rng.integers(-128, 128, xt.shape, dtype=np.int8)
    return node, [xt], yt, [x], oh * ow * oc * k * k * (c // g)


def _run_layers(layers: dict, runs: list, build_dir: Path) -> list[dict]:
    results = []
    for variant, machine in runs:
        driver = kc.build_qemu(variant, machine, build_dir)
        calls = [kc.case_from_node(n, it, ot, xs, variant) for n, it, ot, xs, _ in layers.values()]
        got = kc.run(driver, calls, timeout=300)
        for (name, (n, it, ot, xs, macs)), r in zip(layers.items(), got):
            exact = bool(np.array_equal(r.output, apply(n, xs, it, ot)))
            results.append({"layer": name, "variant": variant, "machine": machine,
                            "cpu": kc.MACHINES[machine][0][0].split("=")[1], "macs": macs,
                            "instructions": r.instructions,
                            "instructions_per_mac": round(r.instructions / macs, 3),
                            "bit_exact": exact})
    return results


def bench(build_dir: Path) -> dict:
    rng = np.random.default_rng(0)
    layers = {n: layer(n, spec, rng) for n, spec in LAYERS.items()}
    results = _run_layers(layers, RUNS, build_dir)
    model = {n: layer(n, spec, rng) for n, spec in mobilenet_v1_layers().items()}
    model_results = _run_layers(model, MODEL_RUNS, build_dir)
    whole = {}
    for variant, machine in MODEL_RUNS:
        rows = [r for r in model_results if (r["variant"], r["machine"]) == (variant, machine)]
        by_kind: dict[str, list[int]] = {}
        for r in rows:
            kind = r["layer"].rstrip("0123456789")
            by_kind.setdefault(kind, [0, 0])
            by_kind[kind][0] += r["instructions"]
            by_kind[kind][1] += r["macs"]
        instr, macs = sum(r["instructions"] for r in rows), sum(r["macs"] for r in rows)
        whole[f"{variant}/{machine}"] = {
            "instructions": instr, "macs": macs, "instructions_per_mac": round(instr / macs, 3),
            "by_layer_kind": {k: round(i / m, 3) for k, (i, m) in by_kind.items()},
            "bit_exact": all(r["bit_exact"] for r in rows)}
    weight_bytes = {v: sum(pack_weights(n.op, n.attrs, n.params["weight"], v).nbytes
                           for n, *_ in model.values()) for v in ("portable", "dsp", "mve")}
    return {"tool": "bench_kernels", "unit": "guest instructions (qemu -icount shift=0)",
            "cmsis_nn_m4_dsp_instr_per_mac": CMSIS_NN_M4, "results": results,
            "mobilenet_v1_0.25_96": {"whole_model": whole, "weight_bytes": weight_bytes,
                                     "layers": model_results}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/bench_kernels.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_kernels_") as tmp:
        doc = bench(Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=args.out.parent, prefix=args.out.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp_path, args.out)
    json.dump(doc, sys.stdout, indent=1)
    print()
    rows = doc["results"] + doc["mobilenet_v1_0.25_96"]["layers"]
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
