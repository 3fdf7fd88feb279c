"""MobileNetV3-Large/-Small (Howard et al. 2019); state dicts equal torchvision's.

Width multipliers follow one of two rules (equal at width 1.0, so torchvision checkpoints
load under either):
- `paper` (default): the TF-slim reference implementation behind the paper's Table 3 -
  each expansion is `make_divisible(rounded input channels * expansion factor)`, the last
  1x1 conv is `make_divisible(960 * width)` (576 for Small) and the classifier's hidden
  layer stays 1280 (1024) at every width (`finegrain_classification_mode`);
- `torchvision`: torchvision's `_mobilenet_v3_conf`, which scales every expansion size
  on its own and the classifier's hidden layer too.
"""
from __future__ import annotations

from torch import nn

from edgemobilenet.errors import EdgembError

from .blocks import (ConvBNAct, ImageClassifier, SqueezeExcite, inverted_residual,
                     make_divisible)

# kernel, expanded, out, squeeze-excite, h-swish, stride (paper, Tables 1 and 2)
LARGE = [(3, 16, 16, False, False, 1), (3, 64, 24, False, False, 2),
          (3, 72, 24, False, False, 1), (5, 72, 40, True, False, 2),
          (5, 120, 40, True, False, 1), (5, 120, 40, True, False, 1),
          (3, 240, 80, False, True, 2), (3, 200, 80, False, True, 1),
          (3, 184, 80, False, True, 1), (3, 184, 80, False, True, 1),
          (3, 480, 112, True, True, 1), (3, 672, 112, True, True, 1),
          (5, 672, 160, True, True, 2), (5, 960, 160, True, True, 1),
          (5, 960, 160, True, True, 1)]
SMALL = [(3, 16, 16, True, False, 2), (3, 72, 24, False, False, 2),
          (3, 88, 24, False, False, 1), (5, 96, 40, True, True, 2),
          (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1),
          (5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1),
          (5, 288, 96, True, True, 2), (5, 576, 96, True, True, 1),
          (5, 576, 96, True, True, 1)]

_BN = dict(bn_eps=0.001, bn_momentum=0.01)


WIDTH_RULES = ("paper", "torchvision")


def v3_channels(setting: list, last_channel: int, width: float, width_rule: str = "paper",
                reduced_tail: bool = False) -> tuple[int, list[tuple[int, int]], int, int]:
    """(stem, [(expanded, out) per block], last conv, classifier hidden) channel counts.

    `reduced_tail` halves the last stage's outputs and the last conv (the paper's
    detection/segmentation backbones, TF's `V3_*_DETECTION`, torchvision's `reduced_tail`).
    """
    if width_rule not in WIDTH_RULES:
        raise EdgembError(f"width rule {width_rule!r}: choose one of {', '.join(WIDTH_RULES)}")
    div = 2 if reduced_tail else 1
    tail = len(setting) - 3   # the last stage: the stride-2 block and the two after it
    stem = ch = make_divisible(16 * width)
    prev_out, blocks = 16, []
    for i, (_, exp, out, *_rest) in enumerate(setting):
        if i >= tail:
            out //= div
            if i > tail:
                exp //= div
        if width_rule == "paper":
            e = make_divisible(ch * exp / prev_out)
        else:
            e = make_divisible(exp * width)
        o = make_divisible(out * width)
        blocks.append((e, o))
        ch, prev_out = o, out
    if width_rule == "paper":
        last_conv = make_divisible(6 * setting[-1][2] // div * width)
        hidden = last_channel // div
    else:
        last_conv, hidden = 6 * ch, make_divisible(last_channel // div * width)
    return stem, blocks, last_conv, hidden


def v3_features(setting: list, width: float, in_channels: int, width_rule: str = "paper",
                reduced_tail: bool = False, dilate_last: bool = False) -> nn.Sequential:
    """The convolutional part (torchvision's `features`): stem, blocks, last 1x1 conv.
    `dilate_last` runs the last stage at stride 16 with dilation 2 (LR-ASPP)."""
    stem, chans, last_conv, _ = v3_channels(setting, 1280, width, width_rule, reduced_tail)
    ch = stem
    layers: list[nn.Module] = [ConvBNAct(in_channels, ch, 3, 2, act=nn.Hardswish, **_BN)]
    tail = len(setting) - 3
    for i, ((kernel, _, _, use_se, hs, stride), (exp, out)) in enumerate(zip(setting, chans)):
        dilation = 2 if dilate_last and i >= tail else 1
        se = SqueezeExcite(exp, make_divisible(exp // 4)) if use_se else None
        layers.append(inverted_residual(ch, exp, out, 1 if dilation > 1 else stride, kernel,
                                        act=nn.Hardswish if hs else nn.ReLU, se=se,
                                        project_as_block=True, attr="block",
                                        dilation=dilation, **_BN))
        ch = out
    layers.append(ConvBNAct(ch, last_conv, 1, act=nn.Hardswish, **_BN))
    return nn.Sequential(*layers)


def _mobilenet_v3(setting: list, last_channel: int, width: float, num_classes: int,
                  in_channels: int, dropout: float, width_rule: str) -> ImageClassifier:
    features = v3_features(setting, width, in_channels, width_rule)
    _, _, last_conv, hidden = v3_channels(setting, last_channel, width, width_rule)
    classifier = nn.Sequential(nn.Linear(last_conv, hidden), nn.Hardswish(), nn.Dropout(dropout),
                               nn.Linear(hidden, num_classes))
    return ImageClassifier(features, classifier)


def mobilenet_v3_large(width: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
                       dropout: float = 0.2, width_rule: str = "paper") -> ImageClassifier:
    """MobileNetV3-Large."""
    return _mobilenet_v3(LARGE, 1280, width, num_classes, in_channels, dropout, width_rule)


def mobilenet_v3_small(width: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
                       dropout: float = 0.2, width_rule: str = "paper") -> ImageClassifier:
    """MobileNetV3-Small."""
    return _mobilenet_v3(SMALL, 1024, width, num_classes, in_channels, dropout, width_rule)
