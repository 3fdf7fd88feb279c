"""The result of kernel choice: which layers run a TVM kernel, its object file, and the
manifest's per-layer record (a `backends.mcu.build.KernelSelection`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgemobilenet.backends.tvm.mcu import kernels


@dataclass
class Choice:
    """The manifest's per-layer kernel entry."""

    kernel: str                       # "hand" or the TVM symbol
    hand_instructions: int | None     # the counts, in `unit`
    tvm_instructions: int | None
    unit: str = "instructions"        # "cycles" when measured on a real board


@dataclass
class Selection:
    calls: dict[int, kernels.TvmCall] = field(default_factory=dict)   # layer -> TVM call
    objects: list[Path] = field(default_factory=list)                 # their object files
    choices: dict[int, Choice] = field(default_factory=dict)

    def manifest_rows(self) -> dict[int, dict[str, Any]]:
        return {i: asdict(c) for i, c in self.choices.items()}
