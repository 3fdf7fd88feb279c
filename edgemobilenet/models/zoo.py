"""The registry of architectures and `build`, which validates options and constructs a model."""
from __future__ import annotations

import inspect
from typing import Callable

from torch import nn

from edgemobilenet.errors import EdgembError

from .mnasnet import mnasnet_a1, mnasnet_b1
from .mobilenet_v1 import mobilenet_v1
from .mobilenet_v2 import mobilenet_v2
from .mobilenet_v3 import WIDTH_RULES, mobilenet_v3_large, mobilenet_v3_small
from .segmentation import (deeplabv3_mobilenet_v2, lraspp_mobilenet_v3_large,
                           lraspp_mobilenet_v3_small)
from .ssdlite import (ssdlite320_mobilenet_v3_large, ssdlite_mobilenet_v2,
                      ssdlite_mobilenet_v3_large, ssdlite_mobilenet_v3_large_reduced,
                      ssdlite_mobilenet_v3_small, ssdlite_mobilenet_v3_small_reduced)

ARCHS: dict[str, Callable[..., nn.Module]] = {
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3_large": mobilenet_v3_large,
    "mobilenet_v3_small": mobilenet_v3_small,
    "mnasnet_a1": mnasnet_a1,
    "mnasnet_b1": mnasnet_b1,
    "ssdlite_mobilenet_v2": ssdlite_mobilenet_v2,
    "ssdlite_mobilenet_v3_large": ssdlite_mobilenet_v3_large,
    "ssdlite_mobilenet_v3_large_reduced": ssdlite_mobilenet_v3_large_reduced,
    "ssdlite_mobilenet_v3_small": ssdlite_mobilenet_v3_small,
    "ssdlite_mobilenet_v3_small_reduced": ssdlite_mobilenet_v3_small_reduced,
    "ssdlite320_mobilenet_v3_large": ssdlite320_mobilenet_v3_large,
    "lraspp_mobilenet_v3_large": lraspp_mobilenet_v3_large,
    "lraspp_mobilenet_v3_small": lraspp_mobilenet_v3_small,
    "deeplabv3_mobilenet_v2": deeplabv3_mobilenet_v2,
}

# every architecture downsamples by 32 in total
STRIDE = 32


def task_of(arch: str) -> str:
    """`classification`, `detection` or `segmentation`."""
    if arch.startswith("ssdlite"):
        return "detection"
    if arch.startswith(("lraspp", "deeplab")):
        return "segmentation"
    return "classification"


def arch_defaults(arch: str) -> dict:
    """Input size and classes the papers use (COCO's 90 + background, VOC's 20 + background)."""
    task = task_of(arch)
    if task == "detection":
        return {"resolution": 320, "num_classes": 91}
    if task == "segmentation":
        return {"resolution": 512, "num_classes": 21}
    return {"resolution": 224, "num_classes": 1000}


def check_options(arch: str, width: float, resolution: int, num_classes: int,
                  in_channels: int) -> None:
    """Raise EdgembError naming the first bad option."""
    if arch not in ARCHS:
        raise EdgembError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if not width > 0:
        raise EdgembError(f"{arch}: width must be > 0, got {width}")
    if task_of(arch) != "classification":
        if resolution < STRIDE:
            raise EdgembError(f"{arch}: resolution must be >= {STRIDE}, got {resolution}")
    elif resolution < STRIDE or resolution % STRIDE:
        raise EdgembError(f"{arch}: resolution must be a positive multiple of {STRIDE} "
                          f"(the network's total stride), got {resolution}")
    least = 2 if task_of(arch) == "detection" else 1   # detection counts the background
    if num_classes < least:
        raise EdgembError(f"{arch}: num_classes must be >= {least}, got {num_classes}")
    if in_channels < 1:
        raise EdgembError(f"{arch}: in_channels must be >= 1, got {in_channels}")


def uses_width_rule(arch: str) -> bool:
    """Whether `arch`'s channel counts depend on the width rule (MobileNetV3 and its heads)."""
    return "width_rule" in inspect.signature(ARCHS[arch]).parameters


def build(arch: str, width: float = 1.0, resolution: int | None = None,
          num_classes: int | None = None, in_channels: int = 3, width_rule: str = "paper",
          **kw) -> nn.Module:
    """Construct `arch` with random weights (train mode). `resolution` is validated and kept
    as `model.resolution`; the weights do not depend on it. `resolution` and `num_classes`
    default to `arch_defaults(arch)`. `width_rule` (`paper` or `torchvision`, see
    `mobilenet_v3`) matters only where `uses_width_rule(arch)`."""
    defaults = arch_defaults(arch)
    resolution = defaults["resolution"] if resolution is None else resolution
    num_classes = defaults["num_classes"] if num_classes is None else num_classes
    check_options(arch, width, resolution, num_classes, in_channels)
    if uses_width_rule(arch):
        kw["width_rule"] = width_rule
    elif width_rule not in WIDTH_RULES:
        raise EdgembError(f"width rule {width_rule!r}: choose one of {', '.join(WIDTH_RULES)}")
    model = ARCHS[arch](width=width, num_classes=num_classes, in_channels=in_channels, **kw)
    model.arch = arch
    model.resolution = resolution
    model.in_channels = in_channels
    return model
