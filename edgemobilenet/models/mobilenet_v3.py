"""MobileNetV3-Large/-Small (Howard et al. 2019); state dicts equal torchvision's."""
from __future__ import annotations

from torch import nn

from .blocks import (ConvBNAct, ImageClassifier, SqueezeExcite, inverted_residual,
                     make_divisible)

# kernel, expanded, out, squeeze-excite, h-swish, stride (paper, Tables 1 and 2)
_LARGE = [(3, 16, 16, False, False, 1), (3, 64, 24, False, False, 2),
          (3, 72, 24, False, False, 1), (5, 72, 40, True, False, 2),
          (5, 120, 40, True, False, 1), (5, 120, 40, True, False, 1),
          (3, 240, 80, False, True, 2), (3, 200, 80, False, True, 1),
          (3, 184, 80, False, True, 1), (3, 184, 80, False, True, 1),
          (3, 480, 112, True, True, 1), (3, 672, 112, True, True, 1),
          (5, 672, 160, True, True, 2), (5, 960, 160, True, True, 1),
          (5, 960, 160, True, True, 1)]
_SMALL = [(3, 16, 16, True, False, 2), (3, 72, 24, False, False, 2),
          (3, 88, 24, False, False, 1), (5, 96, 40, True, True, 2),
          (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1),
          (5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1),
          (5, 288, 96, True, True, 2), (5, 576, 96, True, True, 1),
          (5, 576, 96, True, True, 1)]

_BN = dict(bn_eps=0.001, bn_momentum=0.01)


def _mobilenet_v3(setting: list, last_channel: int, width: float, num_classes: int,
                  in_channels: int, dropout: float) -> ImageClassifier:
    ch = make_divisible(16 * width)
    layers: list[nn.Module] = [ConvBNAct(in_channels, ch, 3, 2, act=nn.Hardswish, **_BN)]
    for kernel, exp, out, use_se, hs, stride in setting:
        exp, out = make_divisible(exp * width), make_divisible(out * width)
        se = SqueezeExcite(exp, make_divisible(exp // 4)) if use_se else None
        layers.append(inverted_residual(ch, exp, out, stride, kernel,
                                        act=nn.Hardswish if hs else nn.ReLU, se=se,
                                        project_as_block=True, attr="block", **_BN))
        ch = out
    layers.append(ConvBNAct(ch, 6 * ch, 1, act=nn.Hardswish, **_BN))
    last = make_divisible(last_channel * width)
    classifier = nn.Sequential(nn.Linear(6 * ch, last), nn.Hardswish(), nn.Dropout(dropout),
                               nn.Linear(last, num_classes))
    return ImageClassifier(nn.Sequential(*layers), classifier)


def mobilenet_v3_large(width: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
                       dropout: float = 0.2) -> ImageClassifier:
    """MobileNetV3-Large."""
    return _mobilenet_v3(_LARGE, 1280, width, num_classes, in_channels, dropout)


def mobilenet_v3_small(width: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
                       dropout: float = 0.2) -> ImageClassifier:
    """MobileNetV3-Small."""
    return _mobilenet_v3(_SMALL, 1024, width, num_classes, in_channels, dropout)
