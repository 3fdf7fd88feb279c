"""Small models and a briefly trained Fashion-MNIST classifier for the quantization tests."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from edgemobilenet.checkpoint import make_checkpoint, save_checkpoint
from edgemobilenet.data.fashion_mnist import MEAN, STD, load_raw, preprocess
from edgemobilenet.models import build


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters (eval mode)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
    return model.eval()


class TinyNet(nn.Module):
    """Conv-BN-ReLU stem, a depthwise-separable residual block, pooled linear head."""

    def __init__(self, in_ch: int = 1, classes: int = 10, c: int = 8):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_ch, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c),
                                  nn.ReLU6())
        self.dw = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False),
                                nn.BatchNorm2d(c), nn.ReLU())
        self.pw = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
        self.down = nn.Sequential(nn.Conv2d(c, 2 * c, 3, 2, 1), nn.BatchNorm2d(2 * c),
                                  nn.Hardswish())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = x + self.pw(self.dw(x))
        x = self.down(x)
        return self.fc(torch.flatten(self.pool(x), 1))


def fashion(n: int, train: bool, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n normalised 28x28 Fashion-MNIST images (N, 1, 28, 28) and labels."""
    images, labels = load_raw(train)
    x = torch.from_numpy(images[offset:offset + n].astype(np.float32) / 255.0).unsqueeze(1)
    return (x - MEAN[0]) / STD[0], torch.from_numpy(labels[offset:offset + n].astype(np.int64))


@functools.lru_cache(maxsize=1)
def trained_tiny() -> TinyNet:
    """TinyNet after two quick epochs on 1500 Fashion-MNIST images (about 70% top-1)."""
    torch.manual_seed(0)
    model = TinyNet()
    x, y = fashion(1500, train=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(2):
        for i in torch.randperm(len(x)).split(50):
            opt.zero_grad()
            F.cross_entropy(model(x[i]), y[i]).backward()
            opt.step()
    return model.eval()


def write_checkpoint(path: Path) -> Path:
    """An `edgemb train`-format checkpoint: MobileNetV2 0.35, 32x32x1, 10 classes."""
    opts = {"width": 0.35, "resolution": 32, "num_classes": 10, "in_channels": 1}
    model = randomize_bn(build("mobilenet_v2", **opts))
    save_checkpoint(make_checkpoint("mobilenet_v2", opts, preprocess(32), model.state_dict(),
                                    epoch=1, val_top1=0.0, dataset="fashion-mnist"), path)
    return path
