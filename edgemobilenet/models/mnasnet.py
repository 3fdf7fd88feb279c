"""MnasNet (Tan et al. 2019): A1 with squeeze-excite, and B1 (= torchvision's `mnasnet1_0`)."""
from __future__ import annotations

from torch import nn

from .blocks import (ConvBNAct, ImageClassifier, Residual, SqueezeExcite, inverted_residual,
                     make_divisible)

_BN_MOMENTUM = 1 - 0.9997  # TensorFlow's 0.9997 as a PyTorch momentum

# MnasNet-A1 (paper, Figure 7): expansion, kernel, out, repeats, stride, squeeze-excite
_A1 = [(6, 3, 24, 2, 2, False), (3, 5, 40, 3, 2, True), (6, 3, 80, 4, 2, False),
       (6, 3, 112, 2, 1, True), (6, 5, 160, 3, 2, True), (6, 3, 320, 1, 1, False)]
# MnasNet-B1 / torchvision: expansion, kernel, out, repeats, stride
_B1 = [(3, 3, 24, 3, 2), (3, 5, 40, 3, 2), (6, 5, 80, 3, 2), (6, 3, 96, 2, 1),
       (6, 5, 192, 4, 2), (6, 3, 320, 1, 1)]


def mnasnet_a1(width: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
               dropout: float = 0.2) -> ImageClassifier:
    """MnasNet-A1: MBConv blocks, SE (ReLU, sigmoid gate, 1/4 of the block input) in 3 stages."""
    bn = dict(bn_momentum=_BN_MOMENTUM)
    c32, c16 = make_divisible(32 * width), make_divisible(16 * width)
    layers: list[nn.Module] = [
        ConvBNAct(in_channels, c32, 3, 2, act=nn.ReLU, **bn),
        inverted_residual(c32, c32, c16, 1, 3, act=nn.ReLU, project_as_block=True,
                          attr="block", **bn),
    ]
    ch = c16
    for t, k, c, n, s, use_se in _A1:
        out = make_divisible(c * width)
        for i in range(n):
            se = SqueezeExcite(ch * t, max(1, ch // 4), gate=nn.Sigmoid) if use_se else None
            layers.append(inverted_residual(ch, ch * t, out, s if i == 0 else 1, k, act=nn.ReLU,
                                            se=se, project_as_block=True, attr="block", **bn))
            ch = out
    layers.append(ConvBNAct(ch, 1280, 1, act=nn.ReLU, **bn))
    classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))
    return ImageClassifier(nn.Sequential(*layers), classifier)


def _b1_block(in_ch: int, out_ch: int, kernel: int, stride: int, t: int) -> nn.Module:
    """torchvision's flat `layers` Sequential: pw, BN, ReLU, dw, BN, ReLU, pw-linear, BN."""
    mid = in_ch * t
    body = nn.Sequential(
        nn.Conv2d(in_ch, mid, 1, bias=False), nn.BatchNorm2d(mid, momentum=_BN_MOMENTUM),
        nn.ReLU(),
        nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False),
        nn.BatchNorm2d(mid, momentum=_BN_MOMENTUM), nn.ReLU(),
        nn.Conv2d(mid, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch, momentum=_BN_MOMENTUM))
    return Residual(body, stride == 1 and in_ch == out_ch, "layers")


def mnasnet_b1(width: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
               dropout: float = 0.2) -> ImageClassifier:
    """MnasNet-B1, key-for-key torchvision's `MNASNet(alpha=width)` (`mnasnet1_0` at 1.0)."""
    c32, c16 = make_divisible(32 * width), make_divisible(16 * width)
    m = _BN_MOMENTUM
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, c32, 3, 2, 1, bias=False), nn.BatchNorm2d(c32, momentum=m),
        nn.ReLU(),
        nn.Conv2d(c32, c32, 3, 1, 1, groups=c32, bias=False), nn.BatchNorm2d(c32, momentum=m),
        nn.ReLU(),
        nn.Conv2d(c32, c16, 1, bias=False), nn.BatchNorm2d(c16, momentum=m),
    ]
    ch = c16
    for t, k, c, n, s in _B1:
        out = make_divisible(c * width)
        layers.append(nn.Sequential(*[
            _b1_block(ch if i == 0 else out, out, k, s if i == 0 else 1, t) for i in range(n)]))
        ch = out
    layers += [nn.Conv2d(ch, 1280, 1, bias=False), nn.BatchNorm2d(1280, momentum=m), nn.ReLU()]
    classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))
    return ImageClassifier(nn.Sequential(*layers), classifier, attr="layers")
