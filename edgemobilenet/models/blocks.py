"""Shared building blocks of the MobileNet family, made only of standard torch layers.

Every block is traceable by `torch.fx.symbolic_trace`: no data-dependent control flow,
residuals are a plain `+`, squeeze-excite is `scale * x`.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

Act = Callable[[], nn.Module]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round `value` to the nearest multiple of `divisor`, never going down by more than 10%."""
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> activation; keys `0.*`, `1.*` as torchvision's."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 act: Act | None = nn.ReLU6, bn_eps: float = 1e-5, bn_momentum: float = 0.1,
                 dilation: int = 1):
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, out_ch, kernel, stride, (kernel - 1) // 2 * dilation,
                      dilation=dilation, groups=groups, bias=False),
            nn.BatchNorm2d(out_ch, eps=bn_eps, momentum=bn_momentum),
        ]
        if act is not None:
            layers.append(act())
        super().__init__(*layers)
        self.out_channels = out_ch


def depthwise_separable(in_ch: int, out_ch: int, stride: int, act: Act = nn.ReLU6,
                        kernel: int = 3) -> nn.Sequential:
    """MobileNetV1 block: depthwise kxk conv-BN-act, then pointwise conv-BN-act."""
    return nn.Sequential(ConvBNAct(in_ch, in_ch, kernel, stride, groups=in_ch, act=act),
                         ConvBNAct(in_ch, out_ch, 1, act=act))


class SqueezeExcite(nn.Module):
    """Squeeze-excite: global average pool -> 1x1 conv -> act -> 1x1 conv -> gate -> `scale * x`.

    Attribute names equal torchvision's `SqueezeExcitation`, so its state dicts load.
    """

    def __init__(self, channels: int, squeeze: int, act: Act = nn.ReLU,
                 gate: Act = nn.Hardsigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.activation = act()
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.scale_activation = gate()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class Residual(nn.Module):
    """Runs `body` (stored under the attribute name `attr`) and adds the input when `use_res`.

    The attribute name varies per family (torchvision's `conv`, `block`, `layers`) so that
    state-dict keys match torchvision's exactly.
    """

    def __init__(self, body: nn.Sequential, use_res: bool, attr: str):
        super().__init__()
        self.use_res = use_res
        self._attr = attr
        setattr(self, attr, body)

    def forward(self, x: Tensor) -> Tensor:
        y = getattr(self, self._attr)(x)
        return x + y if self.use_res else y


def inverted_residual(in_ch: int, mid_ch: int, out_ch: int, stride: int, kernel: int = 3,
                      act: Act = nn.ReLU6, se: nn.Module | None = None,
                      project_as_block: bool = False, attr: str = "conv",
                      bn_eps: float = 1e-5, bn_momentum: float = 0.1,
                      dilation: int = 1) -> Residual:
    """MobileNetV2-style inverted residual: [1x1 expand] -> kxk depthwise -> [SE] -> 1x1 linear.

    `project_as_block=False` stores the projection as bare Conv2d + BatchNorm2d (V2 layout),
    `True` as a ConvBNAct without activation (V3 layout). `dilation` applies to the
    depthwise conv (output stride 16 backbones for segmentation).
    """
    kw = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
    layers: list[nn.Module] = []
    if mid_ch != in_ch:
        layers.append(ConvBNAct(in_ch, mid_ch, 1, act=act, **kw))
    layers.append(ConvBNAct(mid_ch, mid_ch, kernel, stride, groups=mid_ch, act=act,
                            dilation=dilation, **kw))
    if se is not None:
        layers.append(se)
    if project_as_block:
        layers.append(ConvBNAct(mid_ch, out_ch, 1, act=None, **kw))
    else:
        layers += [nn.Conv2d(mid_ch, out_ch, 1, bias=False),
                   nn.BatchNorm2d(out_ch, eps=bn_eps, momentum=bn_momentum)]
    block = Residual(nn.Sequential(*layers), stride == 1 and in_ch == out_ch, attr)
    block.out_channels = out_ch
    return block


class ImageClassifier(nn.Module):
    """`features` (stored as `attr`) -> global average pool -> flatten -> `classifier`."""

    def __init__(self, features: nn.Sequential, classifier: nn.Sequential, attr: str = "features"):
        super().__init__()
        self._attr = attr
        setattr(self, attr, features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = classifier
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(getattr(self, self._attr)(x))
        return self.classifier(torch.flatten(x, 1))


def init_weights(model: nn.Module) -> None:
    """torchvision's initialisation: Kaiming fan-out convs, unit BN, small-normal linear."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
