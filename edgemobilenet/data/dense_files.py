"""Detection and segmentation data that users bring, read into a `DenseSet` in memory.

- Detection: a COCO-style JSON file (`images` with `id`, `file_name`; `annotations` with
  `image_id`, `bbox` [x, y, w, h] in pixels, `category_id`; `categories` with `id`, `name`),
  image paths relative to the JSON's folder. A directory stands for its `train.json` /
  `val.json` (by split) or `annotations.json`. Category ids become labels 1..K in id order.
- Segmentation: `DIR/[train|val/]images/NAME.png|jpg` with `DIR/[train|val/]masks/NAME.png`,
  a one-channel PNG whose values are class ids (0 = background, 255 = ignored);
  `DIR/classes.txt` (one name a line, background first) names them.
Images are resized to `resolution` x `resolution` (boxes are fractions, so unchanged; masks
nearest-neighbour). Any bad file or entry is an EdgembError naming it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from edgemobilenet.errors import EdgembError

from .composite import DenseSet
from .transforms import to_tensor

IGNORE = 255
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def _read_image(path: Path, resolution: int, preprocess: dict, in_channels: int
                ) -> tuple[torch.Tensor, tuple[int, int]]:
    try:
        with Image.open(path) as img:
            img.load()
    except (OSError, UnidentifiedImageError) as e:
        raise EdgembError(f"{path}: cannot read image ({e})") from None
    size = img.size
    img = img.convert("L" if in_channels == 1 else "RGB").resize((resolution, resolution),
                                                                 Image.BILINEAR)
    return to_tensor(img, preprocess, in_channels), size


def _coco_file(spec: Path, train: bool) -> Path:
    if spec.is_file():
        return spec
    for name in ("train.json" if train else "val.json", "annotations.json"):
        if (spec / name).is_file():
            return spec / name
    raise EdgembError(f"{spec}: no {'train' if train else 'val'}.json or annotations.json")


def open_coco(spec: Path, *, train: bool, resolution: int, preprocess: dict,
              in_channels: int) -> DenseSet:
    """A COCO-style detection set (see the module docstring)."""
    path = _coco_file(spec, train)
    try:
        doc = json.loads(path.read_text())
        cats = sorted(doc["categories"], key=lambda c: int(c["id"]))
        images = doc["images"]
        anns = doc["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EdgembError(f"{path}: not a COCO-style JSON file ({type(e).__name__}: {e})") from None
    label_of = {int(c["id"]): i + 1 for i, c in enumerate(cats)}
    per_image: dict[int, list[dict]] = {}
    for a in anns:
        per_image.setdefault(a.get("image_id"), []).append(a)
    xs, boxes, labels = [], [], []
    for im in images:
        try:
            x, (w, h) = _read_image(path.parent / str(im["file_name"]), resolution, preprocess,
                                    in_channels)
            b, lab = [], []
            for a in per_image.get(im["id"], []):
                bx, by, bw, bh = (float(v) for v in a["bbox"])
                if a["category_id"] not in label_of:
                    raise ValueError(f"category_id {a['category_id']} is not in categories")
                if not (bw > 0 and bh > 0 and bx >= 0 and by >= 0 and bx + bw <= w + 0.5
                        and by + bh <= h + 0.5):
                    raise ValueError(f"bbox {a['bbox']} is empty or outside the {w}x{h} image")
                b.append([bx / w, by / h, min(1.0, (bx + bw) / w), min(1.0, (by + bh) / h)])
                lab.append(label_of[a["category_id"]])
        except (KeyError, TypeError, ValueError) as e:
            raise EdgembError(f"{path}: image {im.get('id', '?')!r}: {e}") from None
        xs.append(x)
        boxes.append(torch.tensor(b, dtype=torch.float32).reshape(-1, 4))
        labels.append(torch.tensor(lab, dtype=torch.int64))
    if not xs:
        raise EdgembError(f"{path}: no images")
    return DenseSet(torch.stack(xs), boxes, labels, torch.zeros(0),
                    ["background"] + [str(c.get("name", c["id"])) for c in cats])


def open_mask_folder(spec: Path, *, train: bool, resolution: int, preprocess: dict,
                     in_channels: int) -> DenseSet:
    """An images/ + masks/ segmentation tree (see the module docstring)."""
    split = spec / ("train" if train else "val")
    root = split if split.is_dir() else spec
    image_dir, mask_dir = root / "images", root / "masks"
    if not image_dir.is_dir() or not mask_dir.is_dir():
        raise EdgembError(f"{root}: a segmentation set needs images/ and masks/ folders")
    files = sorted(f for f in image_dir.iterdir() if f.suffix.lower() in _IMAGE_SUFFIXES)
    if not files:
        raise EdgembError(f"{image_dir}: no images")
    xs, masks = [], []
    top = 0
    for f in files:
        x, size = _read_image(f, resolution, preprocess, in_channels)
        mpath = mask_dir / (f.stem + ".png")
        try:
            with Image.open(mpath) as m:
                m.load()
        except (OSError, UnidentifiedImageError) as e:
            raise EdgembError(f"{mpath}: cannot read the mask of {f.name} ({e})") from None
        if m.mode not in ("L", "P", "I", "I;16"):
            raise EdgembError(f"{mpath}: mask must have one channel of class ids, not {m.mode}")
        if m.size != size:
            raise EdgembError(f"{mpath}: mask is {m.size[0]}x{m.size[1]}, image "
                              f"{size[0]}x{size[1]}")
        arr = np.asarray(m.resize((resolution, resolution), Image.NEAREST), dtype=np.int64)
        top = max(top, int(arr[arr != IGNORE].max(initial=0)))
        xs.append(x)
        masks.append(torch.from_numpy(arr.copy()))
    names_file = spec / "classes.txt"
    classes = (names_file.read_text().split("\n") if names_file.is_file() else [])
    classes = [c.strip() for c in classes if c.strip()] or \
        ["background"] + [f"class {i}" for i in range(1, top + 1)]
    if top >= len(classes):
        raise EdgembError(f"{names_file}: names {len(classes)} classes but a mask holds id {top}")
    return DenseSet(torch.stack(xs), [], [], torch.stack(masks), classes)
