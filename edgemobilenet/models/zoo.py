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

ARCHS: dict[str, Callable[..., nn.Module]] = {
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3_large": mobilenet_v3_large,
    "mobilenet_v3_small": mobilenet_v3_small,
    "mnasnet_a1": mnasnet_a1,
    "mnasnet_b1": mnasnet_b1,
}

# every architecture downsamples by 32 in total
STRIDE = 32


def check_options(arch: str, width: float, resolution: int, num_classes: int,
                  in_channels: int) -> None:
    """Raise EdgembError naming the first bad option."""
    if arch not in ARCHS:
        raise EdgembError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if not width > 0:
        raise EdgembError(f"{arch}: width must be > 0, got {width}")
    if resolution < STRIDE or resolution % STRIDE:
        raise EdgembError(f"{arch}: resolution must be a positive multiple of {STRIDE} "
                          f"(the network's total stride), got {resolution}")
    if num_classes < 1:
        raise EdgembError(f"{arch}: num_classes must be >= 1, got {num_classes}")
    if in_channels < 1:
        raise EdgembError(f"{arch}: in_channels must be >= 1, got {in_channels}")


def uses_width_rule(arch: str) -> bool:
    """Whether `arch`'s channel counts depend on the width rule (MobileNetV3 and its heads)."""
    return "width_rule" in inspect.signature(ARCHS[arch]).parameters


def build(arch: str, width: float = 1.0, resolution: int = 224, num_classes: int = 1000,
          in_channels: int = 3, width_rule: str = "paper", **kw) -> nn.Module:
    """Construct `arch` with random weights (train mode). `resolution` is validated and kept
    as `model.resolution`; the weights do not depend on it. `width_rule` (`paper` or
    `torchvision`, see `mobilenet_v3`) matters only where `uses_width_rule(arch)`."""
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
