"""MobileNetV1 (Howard et al. 2017): depthwise separable convolutions, width multiplier alpha."""
from __future__ import annotations

from torch import nn

from .blocks import ConvBNAct, ImageClassifier, depthwise_separable, make_divisible

# (output channels, stride) of the 13 depthwise separable blocks (paper, Table 1)
_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
           (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def mobilenet_v1(width: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
                 dropout: float = 0.2) -> ImageClassifier:
    """MobileNetV1 with ReLU6 (as the TensorFlow reference) and channels rounded to 8."""
    ch = make_divisible(32 * width)
    layers: list[nn.Module] = [ConvBNAct(in_channels, ch, 3, 2)]
    for out, stride in _BLOCKS:
        out = make_divisible(out * width)
        layers.append(depthwise_separable(ch, out, stride))
        ch = out
    classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(ch, num_classes))
    return ImageClassifier(nn.Sequential(*layers), classifier)
