"""Compiling a QGraph for a target, with the decisions that sit above the backends.

The MCU backend's passes (backends/mcu/build.py: plan memory, weight layouts, emit,
build, measure) take kernel choice as an argument; choosing kernels needs TVM and, with
`connect`, a board, so it is wired here: the MCU backend never imports the TVM one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from edgemobilenet.backends.mcu import build
from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.targets import Target


def tvm_kernel_chooser(g: QGraph, target: Target, tune_db: Path, choice: str = "fastest",
                       connect: Any = None) -> build.KernelChooser:
    """Per tuned layer, the faster of its hand-written and its TVM kernel (`choice` "tvm":
    always TVM), measured in QEMU or, with `connect` (backends/tvm/mcu/board_runner.py),
    on the board."""
    def choose(work: Path, compact_layers: frozenset[int]) -> build.KernelSelection:
        from edgemobilenet.backends.tvm.mcu.select import select_kernels  # TVM on demand

        return select_kernels(g, target, Path(tune_db), work, choice, connect, compact_layers)
    return choose


def compile_mcu(g: QGraph, target: Target, out_dir: Path, *, jobs: int = 2,
                step: Callable[[str], None] | None = None, tune_db: Path | None = None,
                kernel_choice: str = "fastest", connect: Any = None,
                weight_layout: str = "auto", memory: str = "auto") -> dict[str, Any]:
    """Firmware build directory for an MCU target (see `build.compile_model`); with a
    `tune_db` (`edgemb tune`), tuned layers may run TVM kernels (`tvm_kernel_chooser`).
    Detectors and segmenters get their device post-processing after the last layer, as
    the QGraph's metadata describes it (`detection.postspec`; `with_nms` changes it)."""
    from edgemobilenet.detection.device import device_postprocess

    chooser = None if tune_db is None else tvm_kernel_chooser(g, target, tune_db,
                                                               kernel_choice, connect)
    return build.compile_model(g, target, out_dir, jobs=jobs, step=step, kernels=chooser,
                               weight_layout=weight_layout, memory=memory,
                               post=device_postprocess(g))
