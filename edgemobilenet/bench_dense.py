"""Accuracy of a detection or segmentation build on a device, for `edgemb bench`: mAP@0.5
and mAP@[.5:.95] (pycocotools) or mIoU and pixel accuracy, of the float model, the int8
reference executor and the device, all through the post-processing the build carries
(`detection.postspec`: anchors, NMS config, classes). The device's detections are its own:
the C post-processing after the last layer on MCU builds; on Linux builds the host module
right after the TVM module (`host_postprocess`, said in a note). Float and int8-reference
detections use the same TFLite_Detection_PostProcess semantics (`tflite_nms`). Also keeps
the first images with ground truth and the device's boxes or class map for the report."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from edgemobilenet.detection.postspec import PostSpec, from_meta
from edgemobilenet.errors import EdgembError

SAMPLES = 4


@dataclass
class DenseData:
    """A detection / segmentation test set (data.DenseSet) and its post-processing spec."""

    ds: Any
    spec: PostSpec

    @property
    def task(self) -> str:
        return "detection" if self.spec.kind == "detect" else "segmentation"


def dense_spec(build) -> PostSpec | None:
    return from_meta(build.graph, str(build.path / "model.qgraph"))


def load_dense(build, data: str, limit: int | None) -> tuple[np.ndarray, DenseData]:
    """(quantized inputs (N, H, W, C), DenseData): DATA as `edgemb eval` takes it for the
    task (the composited `fashion-mnist` sets, COCO JSON, images/ + masks/), the first
    `limit` images."""
    from edgemobilenet.data import open_dense_dataset
    from edgemobilenet.data.composite import DenseSet
    from edgemobilenet.quant.convert import quantize_input

    spec = dense_spec(build)
    _, h, w, c = build.input_shape
    if h != w:
        raise EdgembError(f"{build.path}: the model input is {h}x{w}; dense test sets are square")
    task = "detection" if spec.kind == "detect" else "segmentation"
    ds = open_dense_dataset(data, task, train=False, resolution=h, in_channels=c, count=limit)
    if limit is not None and limit < len(ds):
        ds = DenseSet(ds.images[:limit], ds.boxes[:limit], ds.labels[:limit],
                      ds.masks[:limit], ds.classes)
    if len(ds) == 0:
        raise EdgembError(f"{data}: the dataset is empty")
    return quantize_input(build.graph, ds.images), DenseData(ds, spec)


def float_outputs(build, dense: DenseData) -> tuple[np.ndarray | None, str | None]:
    """The float model's raw outputs on the test images ((N, A*(4+K)) detection vectors or
    (N, K, H, W) maps), or (None, why not)."""
    import torch

    from edgemobilenet.quant.sources import load_float_model

    meta = build.graph.meta
    source = str(meta.get("source") or "")
    if not source or source.endswith("(random init)"):
        return None, (f"float accuracy omitted: the float model was '{source}'" if source else
                      "float accuracy omitted: the QGraph does not name its float model")
    opts = meta.get("options") or {}
    try:
        fm = load_float_model(source, arch=meta.get("arch"), width=opts.get("width"),
                              num_classes=opts.get("num_classes"),
                              in_channels=opts.get("in_channels"),
                              resolution=opts.get("resolution"))
    except EdgembError as e:
        return None, f"float accuracy omitted: cannot load the float model ({e})"
    out = []
    with torch.no_grad():
        for i in range(0, len(dense.ds), 32):
            out.append(fm.module.eval()(dense.ds.images[i:i + 32]).numpy())
    return np.concatenate(out), None


def device_results(build, runner, xs: np.ndarray, progress: Callable[[int], None]
                   ) -> tuple[np.ndarray, list, str]:
    """Raw outputs (N, size), the device's post-processed result per image (Detections or
    an int8 class map) and where the post-processing ran."""
    from edgemobilenet.detection.device import host_postprocess, parse_detections

    g = build.graph
    on_device = "postprocess" in build.manifest and hasattr(runner, "run_postprocessed")
    raw, post = [], []
    for i in range(len(xs)):
        if on_device:
            y, p = runner.run_postprocessed(xs[i])
            shape = g.tensor(g.outputs[0]).shape
            post.append(parse_detections(p) if build.manifest["postprocess"]["kind"] ==
                        "detect" else np.frombuffer(p, np.int8).reshape(shape[1:-1]))
        else:
            y, _ = runner.run(xs[i])
            m = host_postprocess(g, np.asarray(y).reshape(g.tensor(g.outputs[0]).shape))
            post.append(m if not isinstance(m, np.ndarray) else m[0])
        raw.append(np.asarray(y).reshape(-1))
        progress(i + 1)
    where = ("the device (C, after the last layer)" if on_device else
             "the host, right after the device's raw output (TVM module)" if build.is_linux
             else "the host (this build has no device post-processing: rebuild it)")
    return np.stack(raw), post, where


def _detections(spec: PostSpec, g, float_out, ref: np.ndarray, dev_post: list) -> dict:
    from edgemobilenet.detection.tflite_nms import postprocess, postprocess_int8

    t, a, cfg = g.tensor(g.outputs[0]), len(spec.anchors), spec.nms

    def split(v):
        v = np.asarray(v).reshape(-1)
        return v[:4 * a].reshape(a, 4), v[4 * a:].reshape(a, -1)

    dets = {"int8": [postprocess_int8(*split(r), t.scale, t.zero_point, spec.anchors, cfg)
                     for r in ref], "device": dev_post}
    if float_out is not None:
        dets["float"] = [postprocess(*split(f), spec.anchors, cfg) for f in float_out]
    return dets


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in ((a.boxes, b.boxes), (a.classes, b.classes),
                                                   (a.scores, b.scores)))


def accuracy(build, dense: DenseData, ref: np.ndarray, dev_post: list,
             float_out: np.ndarray | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(accuracy fields, report samples): per model ("float", "int8", "device") the task's
    metrics, whether the device's post-processed results equal the int8 reference's."""
    from edgemobilenet.detection.metrics import coco_map
    from edgemobilenet.evaluate_dense import confusion, miou

    ds, spec, g = dense.ds, dense.spec, build.graph
    size, k = ds.images.shape[-1], spec.num_classes
    res: dict[str, Any] = {"task": dense.task, "classes": list(spec.classes)}
    n = min(SAMPLES, len(ds))
    imgs = [ds.images[i, 0].numpy() for i in range(n)]
    if dense.task == "detection":
        dets = _detections(spec, g, float_out, ref, dev_post)
        gt_b, gt_l = [b.numpy() for b in ds.boxes], [lab.numpy() for lab in ds.labels]
        for key, d in dets.items():
            res[key] = coco_map(gt_b, gt_l, [(x.boxes, x.scores, x.classes + 1) for x in d],
                                k, size)
        res["device_equals_int8"] = all(_same(x, y) for x, y in zip(dets["device"],
                                                                      dets["int8"]))
        res["nms"] = asdict(spec.nms)
        res["device_detections"] = sum(len(x.scores) for x in dev_post)
        truth = [(gt_b[i], gt_l[i]) for i in range(n)]
        pred = [(d.boxes, d.classes + 1, d.scores) for d in dev_post[:n]]
    else:
        target = ds.masks.numpy()
        maps = {"int8": np.argmax(ref.reshape(len(ref), *target.shape[1:], k), -1),
                "device": np.stack(dev_post).astype(np.int64)}
        if float_out is not None:
            maps["float"] = float_out.argmax(1)
        for key, m in maps.items():
            res[key] = miou(confusion(m, target, k))
        res["device_equals_int8"] = bool(np.array_equal(maps["device"], maps["int8"]))
        truth = [target[i] for i in range(n)]
        pred = list(maps["device"][:n])
    samples = {"task": dense.task, "images": imgs, "truth": truth, "pred": pred,
               "classes": list(spec.classes)}
    return res, samples


METRICS = {"detection": (("mAP@0.5", "map50"), ("mAP@[.5:.95]", "map")),
           "segmentation": (("mIoU", "miou"), ("pixel acc.", "pixel_acc"))}
