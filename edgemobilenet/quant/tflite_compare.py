"""An imported `.tflite` run by LiteRT, read in QGraph terms (a `runtime_compare.FileRuntime`).

LiteRT runs the file itself; its int8 tensor that is the QGraph's input (after the file's
own QUANTIZE, when it takes float32 or uint8) and the one that is the QGraph's output are
read back, so our executor computes on exactly LiteRT's input.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgemobilenet.quant import litert_run
from edgemobilenet.quant.tflite_import import imported


class LitertPeer:
    name = "litert"

    def __init__(self, path: str | Path, kernels: str = "builtin"):
        data = Path(path).read_bytes()
        self.q, self.in_index, self.out_index = imported(data, str(path))
        self.it = litert_run.interpreter(data, kernels, keep_all=True)
        self.detail = self.it.get_input_details()[0]

    def _input(self, x_nhwc: np.ndarray) -> np.ndarray:
        """A float image in the file's input type (quantized with the file's parameters)."""
        dt = self.detail["dtype"]
        if dt == np.float32:
            return x_nhwc.astype(np.float32)
        scale, zp = self.detail["quantization"]
        info = np.iinfo(dt)
        return np.clip(np.round(x_nhwc / scale) + zp, info.min, info.max).astype(dt)

    def quantized_io(self, x_nchw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.it.set_tensor(self.detail["index"], self._input(x_nchw.transpose(0, 2, 3, 1)))
        self.it.invoke()
        return self.it.get_tensor(self.in_index).copy(), self.it.get_tensor(self.out_index).copy()
