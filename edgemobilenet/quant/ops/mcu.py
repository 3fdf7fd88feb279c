"""The C ABI of an op's MCU kernel (`firmware/kernels/include/emb_kernels.h`), as data.

One `McuKernel` per op says which C function runs it, the order and kind of its arguments,
and how their values come from a QGraph node. Three readers use it and nothing else:
the code generator (backends/mcu/codegen.py renders each call as C), the kernel test
harness (backends/mcu/kernel_check.py encodes the same values as an int vector and blobs)
and the kernel test driver (its C dispatch, `kernel_calls.h`, is generated from the
argument lists here by `driver_dispatch_c`). So the argument order exists once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from edgemobilenet.quant.ir import QNode, QTensor


@dataclass(frozen=True)
class Arg:
    """One C argument. kind: `int` (int32_t), `struct` (a const struct of int32_t fields,
    passed by address), `input` (an activation: value is the node's input index),
    `const` (a parameter array of `ctype`), `out` (the output activation)."""

    name: str
    kind: str
    ctype: str = "int32_t"
    fields: tuple[str, ...] = ()

    @property
    def n_ints(self) -> int:
        return {"int": 1, "struct": len(self.fields)}.get(self.kind, 0)


def ints(*names: str) -> tuple[Arg, ...]:
    return tuple(Arg(n, "int") for n in names)


def struct(name: str, ctype: str, fields: tuple[str, ...]) -> Arg:
    return Arg(name, "struct", ctype, fields)


def inp(name: str) -> Arg:
    return Arg(name, "input", "int8_t")


def const(name: str, ctype: str) -> Arg:
    return Arg(name, "const", ctype)


OUT = Arg("out", "out", "int8_t")


@dataclass
class KernelContext:
    """What a kernel call's values are computed from: the node, its typed attributes, its
    tensors, and the backend's weight packing (`pack(weight) -> packed int8 array`)."""

    node: "QNode"
    attrs: Any
    in_tensors: "list[QTensor]"
    out_tensor: "QTensor"
    pack: Callable[[np.ndarray], np.ndarray]
    compact: bool = False   # dsp pointwise weights kept int8 (backends/mcu/packing.py)

    def zp_in(self, i: int = 0) -> int:
        return int(self.in_tensors[i].zero_point)

    @property
    def zp_out(self) -> int:
        return int(self.out_tensor.zero_point)

    def hwc(self, i: int | None = None) -> tuple[int, int, int]:
        """(H, W, C) of input i (or of the output): NHWC or (1, C)."""
        shape = tuple(self.out_tensor.shape if i is None else self.in_tensors[i].shape)
        if len(shape) == 4:
            return int(shape[1]), int(shape[2]), int(shape[3])
        if len(shape) == 2:
            return 1, 1, int(shape[1])
        raise ValueError(f"unsupported activation rank {len(shape)}")

    def numel(self, i: int | None = None) -> int:
        t = self.out_tensor if i is None else self.in_tensors[i]
        return int(np.prod(t.shape, dtype=np.int64))


Values = dict[str, Any]


@dataclass(frozen=True)
class Window:
    """One call over a spatial window of a node (patch-based execution,
    backends/mcu/patch.py): input and output window sizes, the padding the window still
    has at its top and left (image borders), and the output window's element count."""

    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    pad: tuple[int, int]
    out_elems: int


def elementwise_window(values: Values, win: Window) -> Values:
    """The window form of an elementwise kernel taking a `size`."""
    return {**values, "size": win.out_elems}


@dataclass(frozen=True)
class McuKernel:
    """`fn(args...)`; `calls(ctx)` gives the argument values of each call the node makes
    (most ops one; concat one per input), keyed by argument name."""

    fn: str
    args: tuple[Arg, ...]
    calls: Callable[[KernelContext], list[Values]]
    # the values of one call over a spatial window (None: the op cannot run in patches)
    window: Callable[[Values, Window], Values] | None = None

    @property
    def n_ints(self) -> int:
        return sum(a.n_ints for a in self.args)

    @property
    def n_blobs(self) -> int:
        return sum(a.kind in ("input", "const") for a in self.args)

    def int_vector(self, values: Values) -> list[int]:
        """The int and struct arguments in order (the test driver's int vector)."""
        out: list[int] = []
        for a in self.args:
            if a.kind == "int":
                out.append(int(values[a.name]))
            elif a.kind == "struct":
                v = [int(x) for x in values[a.name]]
                if len(v) != len(a.fields):
                    raise ValueError(f"{self.fn}: {a.name} has {len(v)} fields, "
                                     f"expected {len(a.fields)}")
                out += v
        return out

    def blobs(self, values: Values, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """The array arguments in order: activations from `inputs`, parameters as given."""
        out = []
        for a in self.args:
            if a.kind == "input":
                out.append(np.ascontiguousarray(inputs[values[a.name]], dtype=np.int8))
            elif a.kind == "const":
                out.append(np.ascontiguousarray(values[a.name], dtype=a.ctype[:-2]))
        return out

    def render(self, values: Values, *, input_ptr: Callable[[int], str], out_ptr: str,
               const: Callable[[Arg, np.ndarray], str], local: str,
               exprs_of: dict[str, str] | None = None) -> str:
        """C statements for one call; `const(arg, array)` names the emitted array and
        `local` prefixes struct locals; `exprs_of`: C expressions given for some int or
        struct arguments (by name) instead of their values (per-patch tables)."""
        decls, exprs = [], []
        for a in self.args:
            if exprs_of and a.name in exprs_of:
                exprs.append(exprs_of[a.name])
            elif a.kind == "int":
                exprs.append(str(int(values[a.name])))
            elif a.kind == "struct":
                init = ", ".join(str(int(v)) for v in values[a.name])
                decls.append(f"    static const {a.ctype} {local}_{a.name} = {{{init}}};\n")
                exprs.append(f"&{local}_{a.name}")
            elif a.kind == "input":
                exprs.append(input_ptr(values[a.name]))
            elif a.kind == "const":
                exprs.append(const(a, values[a.name]))
            else:
                exprs.append(out_ptr)
        return "".join(decls) + f"    {self.fn}({', '.join(exprs)});\n"

    def driver_case_c(self) -> str:
        """The test driver's call from `a` (int vector), `b` (blobs) and `out`."""
        decls, exprs, k, j = [], [], 0, 0
        for a in self.args:
            if a.kind == "int":
                exprs.append(f"a[{k}]")
                k += 1
            elif a.kind == "struct":
                init = ", ".join(f"a[{k + i}]" for i in range(len(a.fields)))
                decls.append(f"const {a.ctype} s_{a.name} = {{{init}}}; ")
                exprs.append(f"&s_{a.name}")
                k += len(a.fields)
            elif a.kind in ("input", "const"):
                exprs.append(f"(const {a.ctype} *)b[{j}]")
                j += 1
            else:
                exprs.append("(int8_t *)out")
        return f"{{ {''.join(decls)}{self.fn}({', '.join(exprs)}); break; }}"
