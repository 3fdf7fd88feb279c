"""The papers' networks: MobileNetV1/V2/V3 and MnasNet-A1/B1, and the detection and
segmentation models on them (SSDLite, LR-ASPP, Mobile DeepLabv3), built from shared blocks."""
from .blocks import make_divisible
from .zoo import ARCHS, build

__all__ = ["ARCHS", "build", "make_divisible"]
