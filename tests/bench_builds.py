"""Shared by the bench, report, flash and demo tests: one `edgemb demo` run of a tiny
checkpoint (MobileNetV1 0.25, 32x32 grayscale, random weights) on both emulated targets,
done once per session; its builds and bench results are what the tests examine."""
from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import torch

from edgemobilenet.checkpoint import make_checkpoint, save_checkpoint
from edgemobilenet.data import fashion_mnist
from edgemobilenet.models.zoo import build

TARGETS = ("mps2-an386", "mps3-an547")
LIMIT, REPEAT, CALIB = 6, 3, 8
OPTIONS = {"width": 0.25, "resolution": 32, "num_classes": 10, "in_channels": 1}


@lru_cache(maxsize=None)
def workdir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="edgemb-bench-tests-"))
    atexit.register(shutil.rmtree, d, True)
    return d


@lru_cache(maxsize=None)
def tiny_checkpoint() -> Path:
    torch.manual_seed(0)
    model = build("mobilenet_v1", **OPTIONS)
    path = workdir() / "tiny.pt"
    save_checkpoint(make_checkpoint("mobilenet_v1", OPTIONS, fashion_mnist.preprocess(32),
                                    model.state_dict(), epoch=0, val_top1=0.0,
                                    dataset="fashion-mnist"), path)
    return path


@lru_cache(maxsize=None)
def demo_result() -> dict:
    """run_demo on both targets (compiles OUT/<target>/ and benches each in QEMU)."""
    from edgemobilenet.demo import run_demo

    return run_demo(workdir() / "demo", model=str(tiny_checkpoint()), targets=TARGETS,
                    limit=LIMIT, calib_count=CALIB, repeat=REPEAT)


def build_dir(target: str) -> Path:
    demo_result()
    return workdir() / "demo" / target


def bench_doc(target: str) -> dict:
    return next(d for d in demo_result()["results"] if d["target"] == target)
