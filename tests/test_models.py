"""Zoo architectures: construction, options, fx traceability, torchvision state-dict layout."""
from __future__ import annotations

import operator

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from edgemobilenet.errors import EdgembError
from edgemobilenet.models import ARCHS, build, make_divisible
from edgemobilenet.models.zoo import task_of

CLASSIFIERS = [a for a in ARCHS if task_of(a) == "classification"]

ALLOWED_MODULES = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid,
                   nn.Sigmoid, nn.Linear, nn.Dropout, nn.AdaptiveAvgPool2d)
ALLOWED_FUNCTIONS = {operator.add, operator.mul, torch.flatten, F.adaptive_avg_pool2d}

# torchvision's documented parameter counts (num_params in its weight tables)
TORCHVISION_PARAMS = {"mobilenet_v2": 3_504_872, "mobilenet_v3_large": 5_483_032,
                      "mobilenet_v3_small": 2_542_856, "mnasnet_b1": 4_383_312}


def test_make_divisible_matches_torchvision_rounding():
    assert [make_divisible(v) for v in (32 * 0.35, 16 * 0.35, 1280 * 1.0, 83, 84, 3)] == \
        [16, 8, 1280, 80, 88, 8]


@pytest.mark.parametrize("arch", CLASSIFIERS)
def test_symbolic_trace_equal_and_standard_layers(arch):
    model = build(arch, width=0.5, resolution=64, num_classes=7).eval()
    gm = torch.fx.symbolic_trace(model)
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(gm(x), model(x))
    modules = dict(gm.named_modules())
    for node in gm.graph.nodes:
        if node.op == "call_module":
            assert isinstance(modules[node.target], ALLOWED_MODULES), node.target
        elif node.op == "call_function":
            assert node.target in ALLOWED_FUNCTIONS, node.target
        else:
            assert node.op in ("placeholder", "output"), node
    assert gm(x).shape == (2, 7)


@pytest.mark.parametrize("arch", CLASSIFIERS)
def test_grayscale_and_classes(arch):
    model = build(arch, width=0.35, resolution=32, num_classes=10, in_channels=1).eval()
    assert model(torch.randn(1, 1, 32, 32)).shape == (1, 10)
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == 1


@pytest.mark.parametrize("arch,count", list(TORCHVISION_PARAMS.items()))
def test_param_count_equals_torchvision(arch, count):
    assert sum(p.numel() for p in build(arch).parameters()) == count


def test_torchvision_key_layout():
    keys = {a: set(build(a).state_dict()) for a in TORCHVISION_PARAMS}
    assert {"features.0.0.weight", "features.1.conv.0.0.weight", "features.1.conv.1.weight",
            "features.2.conv.3.running_var", "features.18.1.bias", "classifier.1.weight"} \
        <= keys["mobilenet_v2"]
    assert {"features.0.1.num_batches_tracked", "features.4.block.2.fc1.weight",
            "features.4.block.2.fc2.bias", "features.4.block.3.0.weight", "features.16.0.weight",
            "classifier.0.weight", "classifier.3.weight"} <= keys["mobilenet_v3_large"]
    assert {"features.1.block.1.fc1.weight", "features.12.0.weight"} <= keys["mobilenet_v3_small"]
    assert {"layers.0.weight", "layers.3.weight", "layers.7.running_mean",
            "layers.8.0.layers.0.weight", "layers.13.0.layers.7.weight", "layers.14.weight",
            "layers.15.bias", "classifier.1.weight"} <= keys["mnasnet_b1"]


def test_width_changes_channels():
    small = sum(p.numel() for p in build("mobilenet_v1", width=0.25).parameters())
    full = sum(p.numel() for p in build("mobilenet_v1").parameters())
    assert small < full / 5


@pytest.mark.parametrize("kw,match", [
    (dict(arch="resnet50"), "unknown architecture"),
    (dict(arch="mobilenet_v2", width=0.0), "width must be > 0"),
    (dict(arch="mobilenet_v2", width=-1.0), "width must be > 0"),
    (dict(arch="mobilenet_v2", resolution=100), "multiple of 32"),
    (dict(arch="mobilenet_v2", num_classes=0), "num_classes"),
])
def test_bad_options(kw, match):
    with pytest.raises(EdgembError, match=match):
        build(**kw)


def test_checkpoint_without_width_rule_loads_with_torchvision_rule(tmp_path):
    """Checkpoints written before the width rule existed were built with torchvision's."""
    from edgemobilenet.checkpoint import make_checkpoint, save_checkpoint
    from edgemobilenet.models.loader import load_model
    model = build("mobilenet_v3_small", width=0.5, resolution=32, num_classes=10,
                  width_rule="torchvision")
    ckpt = make_checkpoint("mobilenet_v3_small", {"width": 0.5, "resolution": 32,
                                                  "num_classes": 10, "in_channels": 3},
                           {"mean": [0.0], "std": [1.0], "resize": 32, "crop": 32},
                           model.state_dict(), epoch=1, val_top1=0.0, dataset="x")
    del ckpt["options"]["width_rule"]
    save_checkpoint(ckpt, tmp_path / "old.pt")
    assert load_model(str(tmp_path / "old.pt")).options["width_rule"] == "torchvision"
    with pytest.raises(EdgembError, match="width_rule"):
        load_model(str(tmp_path / "old.pt"), width_rule="paper")
