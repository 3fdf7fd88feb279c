"""`load_model`: one entry point from a zoo name, the shipped default, an edgemb checkpoint
or a torchvision-format state dict to an eval-mode module with its options and preprocessing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from edgemobilenet.checkpoint import is_checkpoint, load_checkpoint, read_torch_file
from edgemobilenet.data.transforms import imagenet_preprocess
from edgemobilenet.errors import EdgembError

from .zoo import ARCHS, arch_defaults, build

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "assets" / "default_model.pt"
DEFAULTS = {"width": 1.0, "resolution": 224, "num_classes": 1000, "in_channels": 3,
            "width_rule": "paper"}


@dataclass
class LoadedModel:
    """A model ready for inference and what is needed to feed it."""

    module: nn.Module
    arch: str
    options: dict
    preprocess: dict
    source: str
    classes: list[str] | None = None   # class names, when the file has them


def _options(base: dict, **given) -> dict:
    out = dict(base)
    out.update({k: v for k, v in given.items() if v is not None})
    out["width"] = float(out["width"])
    out["width_rule"] = str(out.get("width_rule", "paper"))
    for k in ("resolution", "num_classes", "in_channels"):
        out[k] = int(out[k])
    return out


def _load_state(module: nn.Module, state: dict, source: str, arch: str) -> None:
    """Strict load; a mismatch names the first differing keys or shapes."""
    own = module.state_dict()
    # old torchvision files lack BN's num_batches_tracked; load_state_dict accepts that
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        detail = (f"missing {missing[:3]}" if missing else
                  f"unexpected {unexpected[:3]}" if unexpected else
                  f"shape of {shapes[0]} is {tuple(state[shapes[0]].shape)}, "
                  f"{arch} with these options needs {tuple(own[shapes[0]].shape)}")
        raise EdgembError(f"{source}: weights do not fit {arch} ({detail}); "
                          "wrong --arch, --width or --num-classes?")
    module.load_state_dict(state, strict=True)


def _classes_in_state(state: dict) -> int | None:
    """The class count a plain state dict was made for, read from its last layer's shape."""
    for key, per in (("head.classification_head.module_list.1.1.weight", 6),  # 6 boxes
                     ("classifier.low_classifier.weight", 1), ("classifier.cls.weight", 1)):
        if key in state:
            return int(state[key].shape[0]) // per
    classifier = [k for k in state if k.startswith("classifier.") and k.endswith(".weight")]
    return int(state[sorted(classifier)[-1]].shape[0]) if classifier else None


def load_model(spec: str, *, arch: str | None = None, width: float | None = None,
               resolution: int | None = None, num_classes: int | None = None,
               in_channels: int | None = None, width_rule: str | None = None) -> LoadedModel:
    """`spec` is a zoo name (random weights), `default`, an `edgemb train` checkpoint, or a
    torchvision-format `.pth` state dict (needs `arch`). Options not given come from the
    checkpoint or the defaults (width 1.0, 224, 1000 classes, 3 channels, paper width rule)."""
    given = dict(width=width, resolution=resolution, num_classes=num_classes,
                 in_channels=in_channels, width_rule=width_rule)
    if spec in ARCHS:
        if arch is not None and arch != spec:
            raise EdgembError(f"{spec}: --arch {arch} contradicts the model name")
        opts = _options({**DEFAULTS, **arch_defaults(spec)}, **given)
        module = build(spec, **opts)
        return LoadedModel(module.eval(), spec, opts, imagenet_preprocess(opts["resolution"]),
                           f"{spec} (random init)")
    if spec.lower().endswith(".onnx"):
        raise EdgembError(f"{spec}: ONNX models are read by `edgemb quantize`, "
                          "not as torch models")
    path = DEFAULT_MODEL if spec == "default" else Path(spec)
    if spec == "default" and not path.is_file():
        raise EdgembError(f"{path}: the default model is missing from the package")
    if not path.is_file():
        raise EdgembError(f"{spec}: not a zoo architecture ({', '.join(ARCHS)}), "
                          "`default`, or an existing file")
    obj = read_torch_file(path)
    if is_checkpoint(obj):
        ckpt = load_checkpoint(path)
        if arch is not None and arch != ckpt["arch"]:
            raise EdgembError(f"{path}: checkpoint holds {ckpt['arch']}, not {arch}")
        if num_classes is not None and num_classes != ckpt["options"]["num_classes"]:
            raise EdgembError(f"{path}: checkpoint has {ckpt['options']['num_classes']} "
                              f"classes, not {num_classes}")
        opts = _options(ckpt["options"], resolution=resolution)
        for key, kind in (("width", float), ("in_channels", float), ("width_rule", str)):
            if given[key] is not None and kind(given[key]) != kind(opts[key]):
                raise EdgembError(f"{path}: checkpoint has {key} {opts[key]}, not {given[key]}")
        module = build(ckpt["arch"], **opts)
        _load_state(module, ckpt["state_dict"], str(path), ckpt["arch"])
        preprocess = dict(ckpt["preprocess"])
        if resolution is not None and resolution != preprocess["crop"]:  # scale both sizes
            preprocess.update(resize=round(preprocess["resize"] * resolution / preprocess["crop"]),
                              crop=resolution)
        return LoadedModel(module.eval(), ckpt["arch"], opts, preprocess, str(path),
                           ckpt.get("classes"))
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise EdgembError(f"{path}: neither an edgemb checkpoint nor a state dict of tensors")
    if arch is None:
        raise EdgembError(f"{path}: a plain state dict needs --arch ({', '.join(ARCHS)})")
    opts = _options({**DEFAULTS, **arch_defaults(arch)}, **given)
    if num_classes is None:
        found = _classes_in_state(obj)
        if found:
            opts["num_classes"] = found
    module = build(arch, **opts)
    _load_state(module, {k: v.float() if v.is_floating_point() else v for k, v in obj.items()},
                str(path), arch)
    return LoadedModel(module.eval(), arch, opts, imagenet_preprocess(opts["resolution"]),
                       str(path))
