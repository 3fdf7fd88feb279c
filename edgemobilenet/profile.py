"""Parameters and multiply-adds per layer, counted as the papers count them.

MAdds are the multiply-accumulates of convolutions and fully connected layers:
`out_h * out_w * out_c * k_h * k_w * in_c / groups` and `in * out`. Params are counted as
deployed: each conv/linear layer's weights plus one bias per output channel (a following
BatchNorm folds into that bias), which is how the papers' figures come out.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class LayerProfile:
    """One conv or linear layer: qualified name, op, (C, H, W) shapes, params, MAdds."""

    name: str
    op: str
    input_shape: list[int]
    output_shape: list[int]
    params: int
    madds: int


@dataclass
class Profile:
    """Totals and per-layer rows of one model at one input size."""

    params: int
    madds: int
    layers: list[LayerProfile]

    def to_dict(self) -> dict:
        return {"params": self.params, "madds": self.madds,
                "layers": [asdict(layer) for layer in self.layers]}


def _madds(module: nn.Module, out: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return out[0].numel() * kh * kw * module.in_channels // module.groups
    return module.in_features * module.out_features


def _params(module: nn.Module) -> int:
    out = module.out_channels if isinstance(module, nn.Conv2d) else module.out_features
    return module.weight.numel() + out


def profile_model(model: nn.Module, input_shape: tuple[int, int, int]) -> Profile:
    """Run one (C, H, W) zero image through `model` and record its conv and linear layers in
    execution order."""
    names = {m: n for n, m in model.named_modules()}
    rows: list[LayerProfile] = []

    def hook(module: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        rows.append(LayerProfile(
            name=names[module], op=type(module).__name__,
            input_shape=list(inputs[0].shape[1:]), output_shape=list(out.shape[1:]),
            params=_params(module),
            madds=_madds(module, out)))

    leaves = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return Profile(params=sum(r.params for r in rows), madds=sum(r.madds for r in rows),
                   layers=rows)
