"""The `edgemb-checkpoint` file: a plain dict saved with torch.save, loadable with
`weights_only=True` (no pickled objects).

```
{"format": "edgemb-checkpoint", "version": 1, "arch": str,
 "options": {"width": float, "resolution": int, "num_classes": int, "in_channels": int,
             "width_rule": str},  # width_rule absent in older files: "torchvision"
 "preprocess": {"mean": [..], "std": [..], "resize": int, "crop": int},
 "state_dict": {...}, "epoch": int, "val_top1": float, "dataset": str,
 "optimizer": {...},  # optional, for --resume
 "classes": [str, ...]  # optional: class names (detection/segmentation: background first)
}
```
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from edgemobilenet.errors import EdgembError

FORMAT = "edgemb-checkpoint"
VERSION = 1
_OPTION_TYPES = {"width": float, "resolution": int, "num_classes": int, "in_channels": int}
_PREPROCESS_KEYS = ("mean", "std", "resize", "crop")


def make_checkpoint(arch: str, options: dict, preprocess: dict, state_dict: dict, *,
                    epoch: int, val_top1: float, dataset: str,
                    optimizer: dict | None = None,
                    classes: list[str] | None = None) -> dict[str, Any]:
    """Assemble a checkpoint dict with plain Python/tensor values only."""
    ckpt: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "arch": arch,
        "options": {**{k: t(options[k]) for k, t in _OPTION_TYPES.items()},
                    "width_rule": str(options.get("width_rule", "paper"))},
        "preprocess": {"mean": [float(v) for v in preprocess["mean"]],
                       "std": [float(v) for v in preprocess["std"]],
                       "resize": int(preprocess["resize"]), "crop": int(preprocess["crop"])},
        "state_dict": {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()},
        "epoch": int(epoch), "val_top1": float(val_top1), "dataset": str(dataset),
    }
    if optimizer is not None:
        ckpt["optimizer"] = optimizer
    if classes is not None:
        ckpt["classes"] = [str(c) for c in classes]
    return ckpt


def save_checkpoint(ckpt: dict[str, Any], path: str | Path, *, half: bool = False) -> None:
    """Write atomically (temp file + rename). `half` stores float weights as float16 and
    drops optimizer state: for shipping small models; loading casts back to float32."""
    if half:
        ckpt = {k: v for k, v in ckpt.items() if k != "optimizer"}
        ckpt["state_dict"] = {k: v.half() if v.is_floating_point() else v
                              for k, v in ckpt["state_dict"].items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(ckpt, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_torch_file(path: str | Path) -> Any:
    """`torch.load(weights_only=True)` with every failure turned into an EdgembError."""
    path = Path(path)
    if not path.is_file():
        raise EdgembError(f"{path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt, truncated, not a torch file, or holds pickled objects
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EdgembError(f"{path}: not a readable weights-only torch file ({first})") from None


def is_checkpoint(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and validate an edgemb checkpoint; float weights come back as float32."""
    ckpt = read_torch_file(path)
    if not is_checkpoint(ckpt):
        raise EdgembError(f"{path}: not an edgemb checkpoint (no format={FORMAT!r} field)")
    if ckpt.get("version") != VERSION:
        raise EdgembError(f"{path}: checkpoint version {ckpt.get('version')!r} "
                          f"is not supported (expected {VERSION})")
    for key in ("arch", "options", "preprocess", "state_dict"):
        if key not in ckpt:
            raise EdgembError(f"{path}: checkpoint has no {key!r} field")
    missing = [k for k in _OPTION_TYPES if k not in ckpt["options"]]
    missing += [k for k in _PREPROCESS_KEYS if k not in ckpt["preprocess"]]
    if missing:
        raise EdgembError(f"{path}: checkpoint lacks {', '.join(missing)}")
    # files written before the width rule existed were built with torchvision's rule
    ckpt["options"].setdefault("width_rule", "torchvision")
    ckpt["state_dict"] = {k: v.float() if v.is_floating_point() else v
                          for k, v in ckpt["state_dict"].items()}
    return ckpt
