"""Detection and segmentation data, loss, post-processing, metrics, and `edgemb train/eval`
end to end on the composited Fashion-MNIST sets (tiny sizes)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from edgemobilenet.cli import main
from edgemobilenet.data import open_dense_dataset
from edgemobilenet.data.composite import composite
from edgemobilenet.detection.anchors import anchors
from edgemobilenet.detection.boxes import corners, decode, encode
from edgemobilenet.detection.loss import match, multibox_loss
from edgemobilenet.detection.metrics import coco_map
from edgemobilenet.detection.postprocess import nms
from edgemobilenet.errors import EdgembError
from edgemobilenet.evaluate_dense import confusion, miou
from edgemobilenet.quant import qgraph

EDGEMB = Path(sys.executable).parent / "edgemb"
pytestmark = pytest.mark.usefixtures("one_thread")


def test_composite_is_deterministic_and_exact():
    a, b = composite(False, 40, 64, seed=3), composite(False, 40, 64, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert not torch.equal(a.images, composite(False, 40, 64, seed=4).images)
    assert a.images.shape == (40, 1, 64, 64) and a.classes[0] == "background"
    counts = [len(lab) for lab in a.labels]
    assert min(counts) >= 1 and max(counts) >= 3
    sides = []
    for boxes, labels, mask in zip(a.boxes, a.labels, a.masks.numpy()):
        covered = np.zeros_like(mask, dtype=bool)
        for (x1, y1, x2, y2), lab in zip((boxes.numpy() * 64).round().astype(int), labels):
            inside = mask[y1:y2, x1:x2] == int(lab)
            # tight: the item's label touches all four edges of its box
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() \
                and inside[:, -1].any()
            covered[y1:y2, x1:x2] = True
            sides.append(max(x2 - x1, y2 - y1))
        assert not (mask[~covered] > 0).any()   # every foreground pixel lies in a box
    assert min(sides) < 20 and max(sides) > 30     # varied scale


def test_box_coding_roundtrip_and_match():
    anc = torch.from_numpy(anchors("tf", 96, 96))
    boxes = torch.tensor([[0.1, 0.2, 0.4, 0.7], [0.5, 0.5, 0.9, 0.8]])
    m = match(anc, boxes)
    assert set(m[m >= 0].tolist()) == {0, 1}
    codes = encode(boxes[m.clamp(min=0)], anc)
    back = decode(codes.numpy(), anc.numpy())
    np.testing.assert_allclose(back[m >= 0], boxes[m[m >= 0]].numpy(), atol=1e-5)
    np.testing.assert_allclose(corners(anc[:1]).numpy(), [[
        anc[0, 0] - 0.05, anc[0, 1] - 0.05, anc[0, 0] + 0.05, anc[0, 1] + 0.05]], atol=1e-6)


@pytest.mark.parametrize("kind", ["hnm", "focal"])
def test_multibox_loss_small_for_the_right_answer(kind):
    anc = torch.from_numpy(anchors("tf", 96, 96))
    boxes, labels = [torch.tensor([[0.1, 0.2, 0.4, 0.7]])], [torch.tensor([3])]
    m = match(anc, boxes[0])
    codes = encode(boxes[0][m.clamp(min=0)], anc)[None]
    logits = torch.full((1, len(anc), 5), -12.0)
    logits[0, :, 0] = 12.0
    logits[0, m >= 0, 0], logits[0, m >= 0, 3] = -12.0, 12.0
    good = multibox_loss(codes, logits, anc, boxes, labels, kind)
    bad = multibox_loss(torch.zeros_like(codes), torch.zeros_like(logits), anc, boxes, labels,
                        kind)
    assert good < 1e-3 < bad


def test_nms_and_map():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32)
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 2]
    gt_b = [np.array([[0.1, 0.1, 0.5, 0.5]]), np.array([[0.2, 0.2, 0.6, 0.9]])]
    gt_l = [np.array([1]), np.array([2])]
    perfect = [(b, np.array([0.9]), lab) for b, lab in zip(gt_b, gt_l)]
    r = coco_map(gt_b, gt_l, perfect, 3, 100)
    assert r["map"] == pytest.approx(1.0) and r["map50"] == pytest.approx(1.0)
    shifted = [(b + 0.03, s, lab) for b, s, lab in perfect]
    r = coco_map(gt_b, gt_l, shifted, 3, 100)
    assert r["map50"] == pytest.approx(1.0) and r["map"] < 0.8
    wrong = [(b, s, 3 - lab) for b, s, lab in perfect]
    assert coco_map(gt_b, gt_l, wrong, 3, 100)["map50"] == 0.0


def test_miou():
    target = np.array([[0, 0, 1, 1], [0, 0, 255, 2]])
    pred = np.array([[0, 0, 1, 0], [0, 0, 2, 2]])
    r = miou(confusion(pred.reshape(-1), target.reshape(-1), 3))
    assert r["pixel_acc"] == pytest.approx(6 / 7)
    assert r["miou"] == pytest.approx((4 / 5 + 1 / 2 + 1) / 3)


def _coco_tree(root: Path, bbox: list[float]) -> Path:
    root.mkdir()
    for i in range(2):
        Image.fromarray(np.full((40, 50, 3), 60 * i, np.uint8)).save(root / f"{i}.png")
    doc = {"images": [{"id": i, "file_name": f"{i}.png", "width": 50, "height": 40}
                      for i in range(2)],
           "annotations": [{"id": 1, "image_id": 1, "bbox": bbox, "category_id": 7}],
           "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}]}
    (root / "annotations.json").write_text(json.dumps(doc))
    return root


def test_coco_json_and_mask_tree(tmp_path):
    ds = open_dense_dataset(str(_coco_tree(tmp_path / "c", [5, 4, 20, 16])), "detection",
                            train=True, resolution=64, in_channels=3)
    assert ds.images.shape == (2, 3, 64, 64) and ds.classes == ["background", "dog", "cat"]
    assert len(ds.boxes[0]) == 0 and ds.labels[1].tolist() == [2]
    np.testing.assert_allclose(ds.boxes[1].numpy(), [[0.1, 0.1, 0.5, 0.5]])
    seg = tmp_path / "s"
    (seg / "images").mkdir(parents=True)
    (seg / "masks").mkdir()
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(seg / "images" / "a.png")
    mask = np.zeros((30, 30), np.uint8)
    mask[:15] = 2
    mask[0, 0] = 255
    Image.fromarray(mask).save(seg / "masks" / "a.png")
    ds = open_dense_dataset(str(seg), "segmentation", train=False, resolution=60, in_channels=1)
    assert ds.masks.shape == (1, 60, 60) and ds.classes == ["background", "class 1", "class 2"]
    assert ds.masks[0, 0, 0] == 255 and ds.masks[0, 29, 5] == 2 and ds.masks[0, 31, 5] == 0
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(seg / "masks" / "a.png")
    with pytest.raises(EdgembError, match="mask is 30x20"):
        open_dense_dataset(str(seg), "segmentation", train=False, resolution=60, in_channels=1)


def test_bad_coco_file_one_line_exit_2(tmp_path):
    root = _coco_tree(tmp_path / "c", [40, 4, 20, 16])    # 40 + 20 > 50: outside the image
    r = subprocess.run([str(EDGEMB), "train", "ssdlite_mobilenet_v3_small", "--data", str(root),
                        "--resolution", "64", "--epochs", "1", "-o", str(tmp_path / "m.pt")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "annotations.json: image 1: bbox" in r.stderr and "outside" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("arch,keys", [
    ("ssdlite_mobilenet_v3_small", ("map50", "map")),
    ("lraspp_mobilenet_v3_small", ("miou", "pixel_acc"))])
def test_train_and_eval_float_and_int8(tmp_path, arch, keys):
    out = tmp_path / "m.pt"
    r = CliRunner().invoke(main, ["train", arch, "--data", "fashion-mnist", "--width", "0.35",
                                  "--resolution", "48", "--epochs", "1", "--limit", "32",
                                  "--batch-size", "16", "--threads", "1", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert ("mAP@0.5" if keys[0] == "map50" else "mIoU") in r.output
    r = CliRunner().invoke(main, ["eval", str(out), "--data", "fashion-mnist", "--int8",
                                  "--limit", "6", "--calib-limit", "8", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output.strip().splitlines()[-1])
    assert res["images"] == 6
    for key in ("float", "int8"):
        assert all(0.0 <= res[key][k] <= 1.0 for k in keys)
    # the .qgraph alone (anchors, classes in its metadata) evaluates the same, no flags
    q = tmp_path / "m.qgraph"
    r = CliRunner().invoke(main, ["quantize", str(out), "-o", str(q), "--calib",
                                  "fashion-mnist", "--limit", "8"])
    assert r.exit_code == 0, r.output
    assert qgraph.load(q).meta["postprocess"]["classes"][1] == "T-shirt/top"
    r = CliRunner().invoke(main, ["eval", str(q), "--data", "fashion-mnist", "--limit", "6",
                                  "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["int8"] == res["int8"]


@pytest.mark.parametrize("regular", [False, True])
def test_tflite_postprocess_int8_equals_float(regular):
    """Thresholding and ranking raw int8 logits, decoding only survivors, gives exactly the
    detections of the float path on the dequantized outputs (incl. saturated scores)."""
    from edgemobilenet.detection.tflite_nms import (NMSConfig, dequantize, postprocess,
                                                    postprocess_int8)
    rng = np.random.default_rng(1)
    anc = anchors("tf", 64, 64)
    scale, zp = 0.11, -20
    codes_q = rng.integers(-40, 40, (len(anc), 4)).astype(np.int8)
    logits_q = rng.integers(-128, 128, (len(anc), 6)).astype(np.int8)
    logits_q[:5, 2] = 127                                  # equal, saturated scores
    for cfg in (NMSConfig(use_regular_nms=regular, max_detections=20, score_threshold=0.9,
                          iou_threshold=0.3, max_classes_per_detection=2),
                NMSConfig(use_regular_nms=regular, score_threshold=0.5, top_k=50)):
        want = postprocess(dequantize(codes_q, scale, zp), dequantize(logits_q, scale, zp),
                           anc, cfg)
        got = postprocess_int8(codes_q, logits_q, scale, zp, anc, cfg)
        assert len(want.scores) > 3
        for a, b in ((got.boxes, want.boxes), (got.classes, want.classes),
                     (got.scores, want.scores)):
            np.testing.assert_array_equal(a, b)


def test_tflite_postprocess_semantics():
    from edgemobilenet.detection.tflite_nms import NMSConfig, postprocess
    anc = np.array([[0.3, 0.3, 0.2, 0.2], [0.31, 0.3, 0.2, 0.2], [0.7, 0.7, 0.2, 0.2]],
                   np.float32)
    codes = np.zeros((3, 4), np.float32)
    logits = np.array([[0, 2.0, 0.5], [0, 3.0, -1.0], [0, -1.0, 1.0]], np.float32)
    fast = postprocess(codes, logits, anc, NMSConfig(score_threshold=0.6, iou_threshold=0.5))
    # anchor 1 (score sigmoid(3)) suppresses anchor 0; anchor 2 reports its class 1
    assert fast.classes.tolist() == [0, 1] and fast.scores[0] == pytest.approx(0.9526, 1e-4)
    np.testing.assert_allclose(fast.boxes[0], [0.21, 0.2, 0.41, 0.4], atol=1e-6)
    reg = postprocess(codes, logits, anc, NMSConfig(score_threshold=0.6, iou_threshold=0.5,
                                                    use_regular_nms=True))
    assert reg.classes.tolist() == [0, 1, 1] and reg.scores[-1] == pytest.approx(0.6225, 1e-4)
