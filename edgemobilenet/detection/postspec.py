"""What a detector's or segmenter's post-processing needs, carried in its QGraph's metadata
(`meta["postprocess"]`, plain JSON) so that `compile`, `bench` and `eval` need neither the
float model nor flags:

```
{"kind": "detect", "classes": ["background", ...],       # K names, the background first
 "anchors": [[cx, cy, w, h], ...],                        # A float32 values, written exactly
 "anchor_style": "tf" | "torchvision" | null,            # how they were made (information)
 "nms": {NMSConfig fields: thresholds, max detections, fast/regular, box coder scales}}
{"kind": "argmax", "classes": [...]}                      # segmentation: per-pixel argmax
```
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant.qgraph import QGraph

from .anchors import anchors as make_anchors
from .tflite_nms import NMSConfig

KEY = "postprocess"
# The config a build gets unless told otherwise: TFLite_Detection_PostProcess fast NMS with
# a low score threshold (mAP needs the low-scoring detections too) and the candidates
# bounded for the device (scratch = 28 bytes each).
DEFAULT_NMS = NMSConfig(max_detections=20, score_threshold=0.05, top_k=100)


@dataclass(frozen=True)
class PostSpec:
    kind: str                         # "detect" | "argmax"
    classes: tuple[str, ...]          # K names, the background first
    anchors: np.ndarray | None = None  # (A, 4) float32 (cx, cy, w, h); detect only
    nms: NMSConfig | None = None       # detect only
    anchor_style: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def class_names(num_classes: int, names: list[str] | None) -> tuple[str, ...]:
    """`names` when it has `num_classes` entries, else background, class 1, class 2, ..."""
    if names and len(names) == num_classes:
        return tuple(str(n) for n in names)
    return ("background", *(f"class {i}" for i in range(1, num_classes)))


def spec_of_model(task: str, anchor_style: str | None, resolution: int, num_classes: int,
                  names: list[str] | None = None, nms: NMSConfig = DEFAULT_NMS) -> PostSpec:
    """The spec of a zoo detector (`anchor_style`) or segmenter at `resolution`."""
    classes = class_names(num_classes, names)
    if task == "segmentation":
        return PostSpec("argmax", classes)
    return PostSpec("detect", classes, make_anchors(anchor_style, resolution, resolution), nms,
                    anchor_style)


def to_meta(spec: PostSpec) -> dict:
    if spec.kind == "argmax":
        return {"kind": "argmax", "classes": list(spec.classes)}
    return {"kind": "detect", "classes": list(spec.classes),
            "anchors": [[float(v) for v in row] for row in np.asarray(spec.anchors, np.float32)],
            "anchor_style": spec.anchor_style, "nms": asdict(spec.nms)}


def _nms_of(doc: dict, where: str) -> NMSConfig:
    names = {f.name: f for f in fields(NMSConfig)}
    extra = set(doc) - set(names)
    if extra:
        raise EdgembError(f"{where}: unknown NMS option(s) {', '.join(sorted(extra))}")
    cfg = NMSConfig(**doc)
    return check_nms(cfg, where)


def check_nms(cfg: NMSConfig, where: str) -> NMSConfig:
    """`cfg`, or an EdgembError naming the first bad option."""
    for name in ("max_detections", "max_classes_per_detection", "detections_per_class"):
        if not isinstance(getattr(cfg, name), int) or getattr(cfg, name) < 1:
            raise EdgembError(f"{where}: NMS {name} must be an integer >= 1, got "
                              f"{getattr(cfg, name)!r}")
    if cfg.top_k is not None and (not isinstance(cfg.top_k, int) or cfg.top_k < 1):
        raise EdgembError(f"{where}: NMS top_k must be an integer >= 1 or null, got "
                          f"{cfg.top_k!r}")
    for name in ("score_threshold", "iou_threshold"):
        v = getattr(cfg, name)
        if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
            raise EdgembError(f"{where}: NMS {name} must be in [0, 1], got {v!r}")
    for name in ("x_scale", "y_scale", "w_scale", "h_scale"):
        v = getattr(cfg, name)
        if not isinstance(v, (int, float)) or not v > 0:
            raise EdgembError(f"{where}: box coder {name} must be > 0, got {v!r}")
    return replace(cfg, use_regular_nms=bool(cfg.use_regular_nms))


def from_meta(g: QGraph, where: str = "qgraph") -> PostSpec | None:
    """The spec a QGraph carries (None: a classifier or an import without one), checked
    against its output: a detector's is A x (4 + K) values, a segmenter's has K channels."""
    doc = g.meta.get(KEY)
    if doc is None:
        return None
    out = g.tensor(g.outputs[0])
    size = int(np.prod(out.shape))
    try:
        kind, classes = doc["kind"], tuple(str(c) for c in doc["classes"])
        if kind == "argmax":
            if out.shape[-1] != len(classes):
                raise EdgembError(f"{where}: {len(classes)} class names, the output "
                                  f"{out.name} has {out.shape[-1]} channels")
            return PostSpec("argmax", classes)
        if kind != "detect":
            raise EdgembError(f"{where}: post-processing kind {kind!r} is not detect or argmax")
        anc = np.asarray(doc["anchors"], np.float64)
        if anc.ndim != 2 or anc.shape[1] != 4 or not np.isfinite(anc).all():
            raise EdgembError(f"{where}: anchors must be a list of [cx, cy, w, h] numbers")
        if size != len(anc) * (4 + len(classes)):
            raise EdgembError(f"{where}: output {out.name} has {size} values, not {len(anc)} "
                              f"anchors x (4 box codes + {len(classes)} classes)")
        return PostSpec("detect", classes, anc.astype(np.float32),
                        _nms_of(dict(doc["nms"]), where), doc.get("anchor_style"))
    except (KeyError, TypeError, ValueError) as e:
        raise EdgembError(f"{where}: malformed meta.{KEY} ({type(e).__name__}: {e})") from None


def with_nms(g: QGraph, **changes) -> QGraph:
    """A copy of detector `g` with these NMSConfig fields of its carried config changed
    (a new model hash)."""
    spec = from_meta(g)
    if spec is None or spec.kind != "detect":
        raise EdgembError("NMS options are for detectors; this model carries no detection "
                          "post-processing")
    cfg = check_nms(replace(spec.nms, **changes), "NMS options")
    return replace(g, meta={**g.meta, KEY: {**g.meta[KEY], "nms": asdict(cfg)}})
