"""Semantic segmentation heads: LR-ASPP on MobileNetV3 (V3 paper, section 6.4; torchvision's
`lraspp_mobilenet_v3_large` key layout) and Mobile DeepLabv3 on MobileNetV2 (V2 paper,
section 6.3: output stride 16 with dilation, an image-pooling and a 1x1 branch, no ASPP).

Both return per-pixel class logits (N, K, H, W) at the input size, any H and W.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import ConvBNAct, init_weights, inverted_residual, make_divisible
from .mobilenet_v2 import SETTING as V2_SETTING
from .mobilenet_v3 import LARGE, SMALL, v3_features


class LRASPPHead(nn.Module):
    """1x1 conv + BN + ReLU on the high features, gated by sigmoid(1x1 conv(global pool));
    upsampled to the low features' size, classified, plus a classifier on the low ones."""

    def __init__(self, low_channels: int, high_channels: int, num_classes: int,
                 inter_channels: int = 128):
        super().__init__()
        self.cbr = nn.Sequential(nn.Conv2d(high_channels, inter_channels, 1, bias=False),
                                 nn.BatchNorm2d(inter_channels), nn.ReLU())
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                   nn.Conv2d(high_channels, inter_channels, 1, bias=False),
                                   nn.Sigmoid())
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1)

    def forward(self, low: Tensor, high: Tensor) -> Tensor:
        x = self.cbr(high) * self.scale(high)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.low_classifier(low) + self.high_classifier(x)


class SegmentationNet(nn.Module):
    """`backbone` (a Sequential, keys `backbone.<i>`) whose layer `low_pos` also feeds the
    head, then `classifier(low, high)`, upsampled bilinearly to the input size."""

    task = "segmentation"

    def __init__(self, backbone: nn.Sequential, low_pos: int | None, classifier: nn.Module,
                 num_classes: int):
        super().__init__()
        self.backbone = backbone
        self.low_pos = low_pos
        self.classifier = classifier
        self.num_classes = num_classes
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        low = x
        for i, layer in enumerate(self.backbone):
            x = layer(x)
            if i == self.low_pos:
                low = x
        out = self.classifier(low, x)
        return F.interpolate(out, size=size, mode="bilinear", align_corners=False)


def _lraspp(setting: list, low_pos: int, width: float, num_classes: int, in_channels: int,
            width_rule: str) -> SegmentationNet:
    body = v3_features(setting, width, in_channels, width_rule, dilate_last=True)
    head = LRASPPHead(body[low_pos].out_channels, body[-1].out_channels, num_classes)
    return SegmentationNet(body, low_pos, head, num_classes)


def lraspp_mobilenet_v3_large(width: float = 1.0, num_classes: int = 21, in_channels: int = 3,
                              width_rule: str = "paper") -> SegmentationNet:
    """torchvision's `lraspp_mobilenet_v3_large`: low features = block 3 (stride 8), high =
    the last conv with the last stage dilated (output stride 16)."""
    return _lraspp(LARGE, 4, width, num_classes, in_channels, width_rule)


def lraspp_mobilenet_v3_small(width: float = 1.0, num_classes: int = 21, in_channels: int = 3,
                              width_rule: str = "paper") -> SegmentationNet:
    """The same head on MobileNetV3-Small (low features = block 2, stride 8)."""
    return _lraspp(SMALL, 2, width, num_classes, in_channels, width_rule)


class DeepLabV3Head(nn.Module):
    """The V2 paper's reduced DeepLabv3 head: a 1x1 conv branch and an image-pooling branch
    (global pool, 1x1 conv, upsampled), concatenated, projected by a 1x1 conv, classified."""

    def __init__(self, in_channels: int, num_classes: int, channels: int = 256):
        super().__init__()
        self.branch = ConvBNAct(in_channels, channels, 1, act=nn.ReLU)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                  ConvBNAct(in_channels, channels, 1, act=nn.ReLU))
        self.project = ConvBNAct(2 * channels, channels, 1, act=nn.ReLU)
        self.cls = nn.Conv2d(channels, num_classes, 1)

    def forward(self, low: Tensor, x: Tensor) -> Tensor:
        pooled = F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear",
                               align_corners=False)
        return self.cls(self.project(torch.cat([self.branch(x), pooled], 1)))


def deeplabv3_mobilenet_v2(width: float = 1.0, num_classes: int = 21,
                           in_channels: int = 3) -> SegmentationNet:
    """Mobile DeepLabv3 (the V2 paper's "MNetV2*": the head on the 320-channel features,
    without the last 1x1 conv). Output stride 16: as in TF's DeepLab, the block that would
    reach stride 32 keeps stride 1 and the layers after it use dilation 2."""
    ch = make_divisible(32 * width)
    layers: list[nn.Module] = [ConvBNAct(in_channels, ch, 3, 2)]
    stride, dilation = 2, 1
    for t, c, n, s in V2_SETTING:
        out = make_divisible(c * width)
        for i in range(n):
            block_stride = s if i == 0 else 1
            block_dilation = dilation
            if stride == 16 and block_stride == 2:
                block_stride, dilation = 1, 2
            stride *= block_stride
            layers.append(inverted_residual(ch, int(round(ch * t)), out, block_stride,
                                            dilation=block_dilation))
            ch = out
    return SegmentationNet(nn.Sequential(*layers), None, DeepLabV3Head(ch, num_classes),
                           num_classes)
