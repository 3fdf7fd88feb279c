"""COCO-style mAP with pycocotools: mAP@0.5 and mAP@[0.5:0.95] (101-point interpolation)."""
from __future__ import annotations

import contextlib
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def coco_map(gt_boxes: list[np.ndarray], gt_labels: list[np.ndarray],
             detections: list[tuple[np.ndarray, np.ndarray, np.ndarray]], num_classes: int,
             size: int) -> dict[str, float]:
    """Per image ground truth (corner fractions, labels 1..K-1) and detections (boxes,
    scores, labels), on `size` x `size` images -> {"map": mAP@[.5:.95], "map50": mAP@.5}."""
    images, anns = [], []
    for i, (b, lab) in enumerate(zip(gt_boxes, gt_labels)):
        images.append({"id": i, "width": size, "height": size})
        for box, c in zip(np.asarray(b) * size, lab):
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c),
                         "bbox": [float(box[0]), float(box[1]), w, h], "area": w * h,
                         "iscrowd": 0})
    dets = []
    for i, (b, s, lab) in enumerate(detections):
        for box, score, c in zip(np.asarray(b) * size, s, lab):
            dets.append({"image_id": i, "category_id": int(c), "score": float(score),
                         "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]),
                                  float(box[3] - box[1])]})
    if not dets or not anns:
        return {"map": 0.0, "map50": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns,
                      "categories": [{"id": c} for c in range(1, num_classes)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"map": float(ev.stats[0]), "map50": float(ev.stats[1])}
