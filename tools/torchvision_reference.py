"""Write tests/data/torchvision_reference.json: torchvision's own state-dict keys and shapes,
anchors and outputs for `ssdlite320_mobilenet_v3_large` and `lraspp_mobilenet_v3_large`.

torchvision cannot be installed beside torch 2.13 (no release pairs with it), but its models
are plain Python. How the committed file was made (torchvision 0.29.1, torch 2.13.0):

    pip download torchvision==0.29.1 --no-deps -d /tmp/tv && unzip -q -d /tmp/tv/x /tmp/tv/*.whl
    PYTHONPATH=/tmp/tv/x .venv/bin/python tools/torchvision_reference.py

Its compiled `_C` extension does not load against this torch; the models need none of its
ops (NMS is not run), and the meta registrations of those ops are skipped below.
Weights are not downloaded: every tensor is filled by `fill` (also used by the tests), so
the same numbers go into our models and the outputs must agree.
"""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "torchvision_reference.json"


def fill(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Deterministic values for every float tensor, by position in the key order."""
    out = {}
    for i, (k, v) in enumerate(state.items()):
        if not v.is_floating_point():
            out[k] = v
            continue
        x = torch.sin(torch.arange(v.numel(), dtype=torch.float64) * 0.37 + i).reshape(v.shape)
        if k.endswith("running_var"):
            x = x.abs() + 0.5
        elif k.endswith(".weight") and v.dim() == 1:   # BN gamma
            x = 1.0 + 0.2 * x
        else:
            x = x * (1.0 / max(1, v[0].numel()) ** 0.5 if v.dim() > 1 else 0.1)
        out[k] = x.float()
    return out


def sample_input(size: int) -> torch.Tensor:
    return torch.sin(torch.arange(3 * size * size, dtype=torch.float32) * 0.01
                     ).reshape(1, 3, size, size)


def summary(t: torch.Tensor) -> dict:
    shape, t = list(t.shape), t.detach().double().flatten()
    return {"shape": shape, "sum": float(t.sum()), "abs_sum": float(t.abs().sum()),
            "first": [float(v) for v in t[:8]]}


def key_shapes(state: dict[str, torch.Tensor]) -> list[str]:
    """`name AxBxC` per state-dict entry, in order."""
    return [f"{k} {'x'.join(str(d) for d in v.shape)}" for k, v in state.items()]


def _keys(model: torch.nn.Module) -> list[str]:
    return key_shapes(model.state_dict())


def main() -> None:
    sys.modules["torchvision._meta_registrations"] = types.ModuleType("stub")
    import torchvision
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    ref: dict = {"torchvision": torchvision.__version__, "torch": torch.__version__}
    ssd = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None).eval()
    ssd.load_state_dict(fill(ssd.state_dict()))
    x = sample_input(320)
    with torch.no_grad():
        feats = list(ssd.backbone(x).values())
        head = ssd.head(feats)
    grid = [tuple(f.shape[-2:]) for f in feats]
    boxes = ssd.anchor_generator._grid_default_boxes(grid, [320, 320], dtype=torch.float32)
    ref["ssdlite320_mobilenet_v3_large"] = {
        "keys": _keys(ssd),
        "anchors": summary(boxes), "anchors_count": int(boxes.shape[0]),
        "bbox_regression": summary(head["bbox_regression"]),
        "cls_logits": summary(head["cls_logits"])}
    seg = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None).eval()
    seg.load_state_dict(fill(seg.state_dict()))
    x = sample_input(200)
    with torch.no_grad():
        out = seg(x)["out"]
    ref["lraspp_mobilenet_v3_large"] = {
        "keys": _keys(seg),
        "out": summary(out)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(ref, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
