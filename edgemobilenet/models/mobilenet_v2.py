"""MobileNetV2 (Sandler et al. 2018); state-dict layout equal to torchvision's `mobilenet_v2`."""
from __future__ import annotations

from torch import nn

from .blocks import ConvBNAct, ImageClassifier, inverted_residual, make_divisible

# expansion t, output channels c, repeats n, first stride s (paper, Table 2)
SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
            (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_v2(width: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
                 dropout: float = 0.2) -> ImageClassifier:
    """MobileNetV2; the last 1x1 conv keeps 1280 channels for width < 1, as torchvision does."""
    ch = make_divisible(32 * width)
    last = make_divisible(1280 * max(1.0, width))
    layers: list[nn.Module] = [ConvBNAct(in_channels, ch, 3, 2)]
    for t, c, n, s in SETTING:
        out = make_divisible(c * width)
        for i in range(n):
            layers.append(inverted_residual(ch, int(round(ch * t)), out, s if i == 0 else 1))
            ch = out
    layers.append(ConvBNAct(ch, last, 1))
    classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
    return ImageClassifier(nn.Sequential(*layers), classifier)
