"""SSDLite (MobileNetV2 paper, section 6.2; MobileNetV3 paper, section 6.3) on MobileNetV2
and MobileNetV3-Large/-Small, with torchvision's `ssdlite320_mobilenet_v3_large` key layout.

The backbone is split at C4, the expansion output of the stride-16 -> 32 block (V2: block
14 (TF's `layer_15`), V3-Large: 13, V3-Small: 9); C5 is the last 1x1 conv. Four extra
blocks (1x1 to half width, 3x3 depthwise stride 2, 1x1) give maps 3-6. Every prediction
layer is a 3x3 depthwise conv + BN + ReLU6 then a 1x1 conv.

`forward` returns ONE tensor (N, A*4 + A*K): every level's box regressions flattened in
(y, x, anchor, coordinate) order, then every level's class logits in (y, x, anchor, class)
order - the row-major NHWC order, so the int8 graph's output is the same bytes without any
transpose. `split` turns it into (N, A, 4) and (N, A, K). Box codes are (dx, dy, dw, dh)
with scales 10/10/5/5 (`edgemobilenet.detection.boxes`); class 0 is the background.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from edgemobilenet.detection.anchors import boxes_per_location

from .blocks import ConvBNAct, Residual, init_weights
from .mobilenet_v2 import mobilenet_v2
from .mobilenet_v3 import LARGE, SMALL, v3_features

_BN = dict(bn_eps=0.001, bn_momentum=0.03)   # torchvision's SSDLite norm layer


def prediction_block(in_ch: int, out_ch: int) -> nn.Sequential:
    """3x3 depthwise + BN + ReLU6, then a 1x1 conv with bias."""
    return nn.Sequential(ConvBNAct(in_ch, in_ch, 3, groups=in_ch, **_BN),
                         nn.Conv2d(in_ch, out_ch, 1))


def extra_block(in_ch: int, out_ch: int) -> nn.Sequential:
    """1x1 to out/2, 3x3 depthwise stride 2, 1x1 to out; each with BN + ReLU6."""
    mid = out_ch // 2
    return nn.Sequential(ConvBNAct(in_ch, mid, 1, **_BN),
                         ConvBNAct(mid, mid, 3, 2, groups=mid, **_BN),
                         ConvBNAct(mid, out_ch, 1, **_BN))


class ScoringHead(nn.Module):
    """One prediction block per feature map (torchvision's `SSDScoringHead.module_list`)."""

    def __init__(self, in_channels: list[int], outputs: list[int]):
        super().__init__()
        self.module_list = nn.ModuleList(prediction_block(c, o)
                                         for c, o in zip(in_channels, outputs))


class SSDLiteHead(nn.Module):
    """Class logits (`classification_head`) and box codes (`regression_head`)."""

    def __init__(self, in_channels: list[int], anchors: list[int], num_classes: int):
        super().__init__()
        self.classification_head = ScoringHead(in_channels, [a * num_classes for a in anchors])
        self.regression_head = ScoringHead(in_channels, [a * 4 for a in anchors])


class SSDFeatures(nn.Module):
    """torchvision's `SSDLiteFeatureExtractorMobileNet`: `features.0` up to and including the
    C4 block's expansion, `features.1` the rest of the backbone, `extra` four more maps."""

    def __init__(self, body: nn.Sequential, c4_pos: int, width: float, min_depth: int = 16):
        super().__init__()
        c4: Residual = body[c4_pos]
        assert not c4.use_res
        inner = getattr(c4, c4._attr)
        self.features = nn.Sequential(nn.Sequential(*body[:c4_pos], inner[0]),
                                      nn.Sequential(inner[1:], *body[c4_pos + 1:]))
        depth = [max(min_depth, int(d * width)) for d in (512, 256, 256, 128)]
        last = body[-1].out_channels
        self.extra = nn.ModuleList(extra_block(i, o) for i, o in zip([last] + depth[:-1], depth))
        self.out_channels = [inner[0].out_channels, last] + depth

    def forward(self, x: Tensor) -> list[Tensor]:
        maps = []
        for block in self.features:
            x = block(x)
            maps.append(x)
        for block in self.extra:
            x = block(x)
            maps.append(x)
        return maps


class SSDLite(nn.Module):
    """SSDLite detector; see the module docstring for the output layout."""

    task = "detection"

    def __init__(self, backbone: SSDFeatures, num_classes: int, anchor_style: str):
        super().__init__()
        self.num_classes = num_classes
        self.anchor_style = anchor_style
        self.anchors_per_location = boxes_per_location(anchor_style)
        self.backbone = backbone
        self.head = SSDLiteHead(backbone.out_channels, self.anchors_per_location, num_classes)
        init_weights(self)
        for m in self.head.modules():   # torchvision's normal init of the heads
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.03)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        maps = self.backbone(x)
        reg = [h(f).permute(0, 2, 3, 1).flatten(1)
               for h, f in zip(self.head.regression_head.module_list, maps)]
        cls = [h(f).permute(0, 2, 3, 1).flatten(1)
               for h, f in zip(self.head.classification_head.module_list, maps)]
        return torch.cat(reg + cls, 1)

    def split(self, raw: Tensor) -> tuple[Tensor, Tensor]:
        """(N, A*(4+K)) -> box codes (N, A, 4), class logits (N, A, K)."""
        k = self.num_classes
        a = raw.shape[1] // (4 + k)
        return raw[:, :4 * a].reshape(-1, a, 4), raw[:, 4 * a:].reshape(-1, a, k)


def ssdlite_mobilenet_v2(width: float = 1.0, num_classes: int = 91,
                         in_channels: int = 3) -> SSDLite:
    """SSDLite on MobileNetV2 (TF's `ssdlite_mobilenet_v2`: 3 boxes on the first map)."""
    body = mobilenet_v2(width, 1, in_channels).features
    return SSDLite(SSDFeatures(body, 14, width), num_classes, "tf")


def _v3(setting: list, c4_pos: int, width: float, num_classes: int, in_channels: int,
        width_rule: str, reduced_tail: bool, anchor_style: str) -> SSDLite:
    body = v3_features(setting, width, in_channels, width_rule, reduced_tail)
    return SSDLite(SSDFeatures(body, c4_pos, width), num_classes, anchor_style)


def ssdlite_mobilenet_v3_large(width: float = 1.0, num_classes: int = 91, in_channels: int = 3,
                               width_rule: str = "paper") -> SSDLite:
    """SSDLite on MobileNetV3-Large, the V3 paper's Table 6 configuration (TF anchors)."""
    return _v3(LARGE, 13, width, num_classes, in_channels, width_rule, False, "tf")


def ssdlite_mobilenet_v3_large_reduced(width: float = 1.0, num_classes: int = 91,
                                       in_channels: int = 3,
                                       width_rule: str = "paper") -> SSDLite:
    """As `ssdlite_mobilenet_v3_large` with the reduced tail (last stage at half width)."""
    return _v3(LARGE, 13, width, num_classes, in_channels, width_rule, True, "tf")


def ssdlite_mobilenet_v3_small(width: float = 1.0, num_classes: int = 91, in_channels: int = 3,
                               width_rule: str = "paper") -> SSDLite:
    """SSDLite on MobileNetV3-Small (C4 = expansion of block 9)."""
    return _v3(SMALL, 9, width, num_classes, in_channels, width_rule, False, "tf")


def ssdlite_mobilenet_v3_small_reduced(width: float = 1.0, num_classes: int = 91,
                                       in_channels: int = 3,
                                       width_rule: str = "paper") -> SSDLite:
    """As `ssdlite_mobilenet_v3_small` with the reduced tail."""
    return _v3(SMALL, 9, width, num_classes, in_channels, width_rule, True, "tf")


def ssdlite320_mobilenet_v3_large(width: float = 1.0, num_classes: int = 91,
                                  in_channels: int = 3,
                                  width_rule: str = "paper") -> SSDLite:
    """torchvision's `ssdlite320_mobilenet_v3_large` key for key: reduced tail, 6 anchors on
    every map (torchvision's `DefaultBoxGenerator([[2, 3]] * 6, 0.2, 0.95)`)."""
    return _v3(LARGE, 13, width, num_classes, in_channels, width_rule, True, "torchvision")

