#!/usr/bin/env python3
"""Instructions per MAC of the Cortex-M kernels in QEMU (-icount shift=0, SysTick).

Models (tools/trained_models.py prepares them under --models-dir): every layer of each model,
run by the kernel driver on that layer's real activations (the numpy reference on one real
input image), DSP on mps2-an386 (Cortex-M4) and mps2-an500 (Cortex-M7), MVE on mps3-an547
(Cortex-M55). Trained: MobileNetV1 0.25-96 and MobileNetV2 0.35-96 (`edgemb train` on
Fashion-MNIST), that V1 in the 3-channel input shape, the same V1 with 30 % of its channels
pruned, the real ImageNet MobileNetV2
1.0-224; random-init MobileNetV1 0.25-96 as a labelled extra row. Per model: whole-model
instructions / MAC (every op: conv, FC, add, pooling, ...; MACs of conv / FC) and per layer
kind (first conv, depthwise, pointwise, other conv, FC, and the non-MAC ops' share), plus
the bytes of packed weights per variant. Then the single layers below, portable vs optimised,
on random data (labelled). Every output is checked bit-exact against the numpy reference.
Prints JSON and writes it (atomically) to --out. Instructions, not cycles.

    .venv/bin/python tools/trained_models.py
    .venv/bin/python tools/bench_kernels.py --out build/bench_kernels.json [--models NAME ...]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgemobilenet.backends.mcu import kernel_check as kc
from edgemobilenet.backends.mcu.packing import is_depthwise, is_pointwise, pack_weights
from edgemobilenet.quant import qgraph
from edgemobilenet.quant.qgraph import QGraph, QNode, QTensor
from edgemobilenet.quant.reference import apply, run

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
MODELS = ["v1_025_96_fmnist", "v1_025_96_fmnist_rgb", "v2_035_96_fmnist", "v1_025_96_fmnist_pruned30",
          "mnv2_1.0_224_imagenet", "v1_025_96_random"]


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
                            "cpu": _cpu(machine), "macs": macs,
                            "instructions": r.instructions,
                            "instructions_per_mac": round(r.instructions / macs, 3),
                            "bit_exact": exact})
    return results


def _host_cpu() -> str:
    """The machine running QEMU (instruction counts do not depend on it)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def _cpu(machine: str) -> str:
    return kc.qemu_target(machine).cpu


def layer_kind(g: QGraph, node: QNode) -> str:
    """first_conv / depthwise / pointwise / conv / fc, or the op name for non-MAC ops."""
    if node.op == "fully_connected":
        return "fc"
    if node.op != "conv2d":
        return node.op
    w = node.params["weight"]
    if is_depthwise(node, w):
        return "depthwise"
    if is_pointwise(node, w):
        return "pointwise"
    return "first_conv" if node.inputs[0] == g.inputs[0] else "conv"


def node_macs(node: QNode, out_shape: tuple) -> int:
    if node.op not in ("conv2d", "fully_connected"):
        return 0
    w = node.params["weight"]
    return int(np.prod(out_shape)) * int(np.prod(w.shape[1:]))


def model_cases(g: QGraph, x: np.ndarray) -> list[tuple]:
    """(name, kind, macs, node, in tensors, out tensor, inputs) of every op with a kernel."""
    acts = run(g, x, keep_all=True)
    out = []
    for node in g.nodes:
        if node.op == "reshape":
            continue
        if node.op == "concat":
            raise SystemExit(f"{node.name}: concat layers are not benchmarked")
        it = [g.tensors[t] for t in node.inputs]
        ot = g.tensors[node.outputs[0]]
        out.append((node.name, layer_kind(g, node), node_macs(node, ot.shape), node, it, ot,
                    [acts[t] for t in node.inputs]))
    return out


BATCH_BYTES = 6 << 20   # kernel-driver input per QEMU run (the POOL holds one case at a time)


def bench_model(name: str, g: QGraph, x: np.ndarray, build_dir: Path) -> dict:
    cases = model_cases(g, x)
    rows, whole = [], {}
    for variant, machine in MODEL_RUNS:
        driver = kc.build_qemu(variant, machine, build_dir)
        got, batch, size = [], [], 0
        for c in cases:
            call = kc.case_from_node(c[3], c[4], c[5], c[6], variant)
            batch.append(call)
            size += sum(b.nbytes for b in call.blobs)
            if size > BATCH_BYTES or c is cases[-1]:
                got += kc.run(driver, batch, timeout=600)
                batch, size = [], 0
        kinds: dict[str, list[int]] = {}
        for (lname, kind, macs, node, it, ot, xs), r in zip(cases, got):
            exact = bool(np.array_equal(r.output, apply(node, xs, it, ot)))
            rows.append({"layer": lname, "kind": kind, "variant": variant, "machine": machine,
                         "macs": macs, "instructions": r.instructions,
                         "instructions_per_mac": round(r.instructions / macs, 3) if macs else None,
                         "bit_exact": exact})
            k = kinds.setdefault(kind, [0, 0])
            k[0] += r.instructions
            k[1] += macs
        instr = sum(k[0] for k in kinds.values())
        macs = sum(k[1] for k in kinds.values())
        whole[f"{variant}/{machine}"] = {
            "cpu": _cpu(machine), "instructions": instr, "macs": macs,
            "instructions_per_mac": round(instr / macs, 3),
            "by_layer_kind": {k: round(i / m, 3) for k, (i, m) in kinds.items() if m},
            "non_mac_ops_share": round(sum(i for i, m in kinds.values() if not m) / instr, 4),
            "bit_exact": all(r["bit_exact"] for r in rows if r["machine"] == machine
                             and r["variant"] == variant)}
    conv = [n for n in g.nodes if n.op in ("conv2d", "fully_connected")]
    weight_bytes = {v: sum(pack_weights(n, n.params["weight"], v).nbytes
                           for n in conv) for v in ("portable", "dsp", "mve")}
    dead = sum(int((n.params["multiplier"] == 0).sum()) for n in conv)
    left = sum(int(((n.params["shift"] >= 0) & (n.params["multiplier"] != 0)).sum())
               for n in conv)
    return {"model": name, "macs": whole[next(iter(whole))]["macs"],
            "channels": {"total": sum(int(n.params["multiplier"].size) for n in conv),
                         "dead": dead, "left_shift": left},
            "whole_model": whole, "weight_bytes": weight_bytes, "layers": rows}


def bench(build_dir: Path, models_dir: Path, names: list[str]) -> dict:
    meta_path = models_dir / "models.json"
    if not meta_path.exists():
        raise SystemExit(f"{meta_path}: run tools/trained_models.py first")
    meta = json.loads(meta_path.read_text())
    models = []
    for name in names:
        g = qgraph.load(models_dir / f"{name}.qgraph")
        x = np.load(models_dir / f"{name}.input.npy", allow_pickle=False)
        print(f"{name} ...", file=sys.stderr)
        models.append({**bench_model(name, g, x, build_dir), "how": meta.get(name, {})})
    rng = np.random.default_rng(0)
    layers = {n: layer(n, spec, rng) for n, spec in LAYERS.items()}
    results = _run_layers(layers, RUNS, build_dir)
    return {"tool": "bench_kernels", "unit": "guest instructions (qemu -icount shift=0)",
            "host_cpu": _host_cpu(),
            "cmsis_nn_m4_dsp_instr_per_mac": CMSIS_NN_M4, "models": models,
            "single_layers_random_data": results}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/bench_kernels.json"))
    ap.add_argument("--models-dir", type=Path, default=Path("build/trained"))
    ap.add_argument("--models", nargs="+", default=MODELS)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_kernels_") as tmp:
        doc = bench(Path(tmp), args.models_dir, args.models)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=args.out.parent, prefix=args.out.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp_path, args.out)
    json.dump(doc, sys.stdout, indent=1)
    print()
    rows = doc["single_layers_random_data"] + [r for m in doc["models"] for r in m["layers"]]
    for m in doc["models"]:
        for key, w in m["whole_model"].items():
            print(f"{m['model']:28s} {key:20s} {w['instructions_per_mac']:6.3f} instr/MAC "
                  f"{w['by_layer_kind']}", file=sys.stderr)
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
