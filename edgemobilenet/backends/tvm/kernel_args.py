"""The arguments a tuning candidate runs on: the kernel's own constants from the module being
tuned (weights, bias, multipliers, shifts, zero points, clamp bounds) and zero activations
and outputs, so the emulated runner counts each candidate on the data it gets in the model.

A kernel's instruction count does not depend on its data today (integer kernels have no
data-dependent branches: random, zero and real arguments count within 0.1 % of each
other), but a candidate measured on the model's own constants cannot be misled by a
future kernel that has some. Candidates reach the runner as a built library only, so the
tuner tells this table which task each scheduled module is for (`note`, by the search
strategy), the builder which library it built from which module (`built`), and the runner
asks for a library's arguments (`of`).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import tvm
import tvm_ffi

from edgemobilenet.backends.tvm import kernel_profile

ArgSpec = str | list   # a .npy file of the value, or [shape, dtype]: zeros


class KernelArgs:
    """Per tuning task, its representative kernel's arguments at its first call in `main`:
    constants written as .npy files, everything else (activations, outputs) zeros."""

    def __init__(self, mod: tvm.IRModule, task_names: list[str]) -> None:
        self.calls = _first_calls(mod, task_names)
        self.dir: Path | None = None          # the .npy files, written on first use
        self.tasks: dict[str, list[ArgSpec]] = {}
        self.by_mod: dict[int, str] = {}      # structural hash of a scheduled module -> task
        self.by_lib: dict[str, str] = {}      # built library -> task

    def _write(self, task: str, func: tvm.tirx.PrimFunc, call_args: list) -> list[ArgSpec]:
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="edgemb-kernel-args-"))
        specs: list[ArgSpec] = []
        for i, p in enumerate(func.params):
            shape, dtype = [int(d) for d in p.shape], str(p.dtype)
            a = call_args[i] if i < len(call_args) else None
            if isinstance(a, tvm.ir.expr.Constant) and hasattr(a.value, "numpy"):
                v = a.value.numpy()
                assert list(v.shape) == shape and str(v.dtype) == dtype, (task, i)
                path = self.dir / f"{task}.{i}.npy"
                np.save(path, v, allow_pickle=False)
                specs.append(str(path))
            else:
                specs.append([shape, dtype])
        return specs

    def note(self, scheduled: tvm.IRModule, task: str) -> None:
        """A candidate of `task` (the search strategy, before it is built)."""
        self.by_mod[tvm_ffi.structural_hash(scheduled)] = task

    def built(self, scheduled: tvm.IRModule, lib: str) -> None:
        """The builder made `lib` from `scheduled`."""
        task = self.by_mod.get(tvm_ffi.structural_hash(scheduled))
        if task is not None:
            self.by_lib[lib] = task

    def of(self, lib: str) -> list[ArgSpec] | None:
        """The arguments of a built candidate (None: not from a noted task)."""
        task = self.by_lib.get(lib)
        if task is None or task not in self.calls:
            return None
        if task not in self.tasks:
            self.tasks[task] = self._write(task, *self.calls[task])
        return self.tasks[task]

    def close(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


def _first_calls(mod: tvm.IRModule, names: list[str]) -> dict[str, tuple]:
    """{kernel: (its PrimFunc, the arguments of its first `call_tir` in main)}."""
    found: dict[str, tuple] = {}
    wanted = set(names)
    for name, args in kernel_profile.main_calls(mod):
        if name in wanted and name not in found:
            found[name] = (mod[name], args)
    return found
