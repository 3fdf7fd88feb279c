"""Detection mAP / segmentation mIoU measured ON the emulated Cortex-M (QEMU), next to the
float model and the int8 reference executor, all through the same post-processing config:

- detection: TFLite_Detection_PostProcess fast NMS (`detection.device.DEVICE_NMS`): float =
  host module on the float outputs, int8-ref = host module on the reference's raw int8
  outputs, device = the C post-processing in the firmware (get_postprocessed);
- segmentation: per-pixel argmax: float, int8-ref, device = the firmware's int8 argmax map.

Also prints each build's flash / SRAM on every emulated Cortex-M target. Writes JSON.

    python tools/dense_device_eval.py CHECKPOINT --images 100 -o out.json
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, replace
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edgemobilenet.data import open_dense_dataset
from edgemobilenet.detection.device import DEVICE_NMS, anchors_of, parse_detections
from edgemobilenet.detection.metrics import coco_map
from edgemobilenet.detection.tflite_nms import postprocess, postprocess_int8
from edgemobilenet.device.transport import open_device
from edgemobilenet.evaluate_dense import confusion, miou
from edgemobilenet.model_source import ModelOptions, load_qgraph
from edgemobilenet.models.zoo import task_of
from edgemobilenet.pipeline import compile_mcu
from edgemobilenet.quant import reference
from edgemobilenet.quant.convert import quantize_input
from edgemobilenet.quant.sources import load_float_model
from edgemobilenet.report_dense import samples_html
from edgemobilenet.targets import load_target

TARGETS = ["mps2-an386", "mps2-an500", "mps3-an547"]


def _triple(d):
    return d.boxes, d.scores, d.classes + 1          # coco_map: labels 1..K-1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--calib", type=int, default=256)
    ap.add_argument("--run-on", default="mps2-an386")
    ap.add_argument("--targets", nargs="+", default=TARGETS, help="flash/SRAM of these builds")
    ap.add_argument("--score-threshold", type=float, default=DEVICE_NMS.score_threshold)
    ap.add_argument("--max-detections", type=int, default=DEVICE_NMS.max_detections)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    nms = replace(DEVICE_NMS, score_threshold=a.score_threshold,
                  max_detections=a.max_detections)
    fm = load_float_model(a.model)
    o = fm.options
    g = load_qgraph(a.model, ModelOptions(calib="fashion-mnist", calib_count=a.calib))
    arch = g.meta["arch"]
    task = task_of(arch)
    ds = open_dense_dataset("fashion-mnist", task, train=False, count=a.images,
                            resolution=o["resolution"], in_channels=o["in_channels"])
    res: dict = {"model": a.model, "arch": arch, "task": task, "images": len(ds),
                 "run_on": a.run_on, "nms": asdict(nms), "memory": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in dict.fromkeys([*a.targets, a.run_on]):
            doc = compile_mcu(g, load_target(name), Path(tmp) / name, nms=nms)
            res["memory"][name] = {k: doc[k] for k in ("flash_bytes", "sram_bytes",
                                                       "bulk_bytes", "flash_budget",
                                                       "sram_budget", "arena_bytes")}
            res["memory"][name]["postprocess"] = doc.get("postprocess")
            print(name, res["memory"][name], flush=True)
        xs = quantize_input(g, ds.images)
        with torch.no_grad():
            fl = fm.module.eval()(ds.images).numpy()
        out = g.tensor(g.outputs[0])
        dets: dict = {"float": [], "int8-ref": [], "device": []}
        confs: dict = {}
        samples: list = []
        t0, icount = time.time(), []
        target = load_target(a.run_on)
        with open_device(target, elf=Path(tmp) / a.run_on / "firmware.elf",
                         expected_hash=g.digest()) as dev:
            for i in range(len(ds)):
                y, ticks = dev.run(xs[i:i + 1])
                icount.append(ticks)
                ref = reference.run(g, xs[i:i + 1])[g.outputs[0]]
                assert np.array_equal(y.reshape(ref.shape), ref), f"image {i}: not bit-exact"
                post = dev.get_postprocessed()
                if task == "detection":
                    anc = anchors_of(g) if i == 0 else anc
                    n = len(anc)
                    f, r = fl[i], ref.reshape(-1)
                    dets["float"].append(_triple(postprocess(
                        f[:4 * n].reshape(n, 4), f[4 * n:].reshape(n, -1), anc, nms)))
                    dets["int8-ref"].append(_triple(postprocess_int8(
                        r[:4 * n].reshape(n, 4), r[4 * n:].reshape(n, -1), out.scale,
                        out.zero_point, anc, nms)))
                    dets["device"].append(_triple(parse_detections(post)))
                else:
                    k = fl.shape[1]
                    tgt = ds.masks[i:i + 1].numpy()
                    dev_map = np.frombuffer(post, np.int8).reshape(tgt.shape)
                    samples.append(dev_map[0])
                    for key, pred in (("float", fl[i:i + 1].argmax(1)),
                                      ("int8-ref", ref.argmax(-1)),
                                      ("device", dev_map.astype(np.int64))):
                        confs[key] = confs.get(key, 0) + confusion(pred, tgt, k)
        res["seconds"] = round(time.time() - t0, 1)
        res["instructions_per_image"] = int(np.median(icount))
    if task == "detection":
        gt_b = [b.numpy() for b in ds.boxes]
        gt_l = [lab.numpy() for lab in ds.labels]
        for key, d in dets.items():
            res[key] = coco_map(gt_b, gt_l, d, o["num_classes"], o["resolution"])
        res["device_equals_int8_ref"] = all(
            np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) and
            np.array_equal(x[2], y[2]) for x, y in zip(dets["device"], dets["int8-ref"]))
    else:
        for key, c in confs.items():
            res[key] = miou(c)
    Path(a.output).write_text(json.dumps(res, indent=1))
    n = min(4, len(ds))
    imgs = [ds.images[i, 0].numpy() for i in range(n)]
    if task == "detection":
        truth = [(ds.boxes[i].numpy(), ds.labels[i].numpy()) for i in range(n)]
        pred = [(dets["device"][i][0], dets["device"][i][2]) for i in range(n)]
    else:
        truth = [ds.masks[i].numpy() for i in range(n)]
        pred = samples
    metric = {k: res[k] for k in ("float", "int8-ref", "device")}
    page = (f"<!doctype html><meta charset=utf-8><title>{arch} on {a.run_on}</title>"
            f"<h1>{arch} on {a.run_on} (QEMU)</h1><pre>{json.dumps(metric, indent=1)}</pre>"
            + samples_html(task, imgs, truth, pred, f"{arch}: ground truth and the "
                           f"device's post-processed output, first {n} test images"))
    Path(a.output).with_suffix(".html").write_text(page)
    print(json.dumps({k: v for k, v in res.items() if k != "memory"}, indent=1))


if __name__ == "__main__":
    main()
