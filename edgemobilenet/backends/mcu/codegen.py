"""QGraph -> `model.c` / `model.h`: weights as const arrays, one direct kernel call per layer.

The generated code implements `firmware/runtime/emb_model.h` over one static arena whose
offsets come from the memory planner. No interpreter, no malloc: each layer is a function
holding its constants as literals, run in order by `emb_model_run`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping, Protocol

import numpy as np

from edgemobilenet.backends.mcu import kernel_args, postprocess
from edgemobilenet.backends.mcu.planner import MemoryPlan
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import ops
from edgemobilenet.quant.ops.mcu import ints
from edgemobilenet.quant.qgraph import QGraph, QNode


@dataclass
class Layer:
    """What the generated code does for one node (also the manifest's per-layer row)."""

    index: int
    name: str
    op: str
    macs: int
    in_shapes: list[list[int]]
    out_shape: list[int]
    out_offset: int
    out_bytes: int


class ExternalCall(Protocol):
    """A layer run by a kernel outside firmware/kernels (e.g. TVM-generated, see
    backends/tvm/mcu/kernels.py): its C prototype and the statements that call it."""

    def c_prototype(self) -> str: ...

    def c_body(self, prefix: str, const: Callable[[str, str, np.ndarray], str],
               ptr: Callable[[str], str]) -> str: ...


def _attrs(align: int, section: str | None) -> str:
    sec = f', section("{section}")' if section else ""
    return f"__attribute__((aligned({align}){sec}))"


def _carray(ctype: str, name: str, arr: np.ndarray, attrs: str) -> str:
    flat = np.ascontiguousarray(arr).ravel()
    rows = [",".join(map(str, flat[i:i + 24].tolist())) for i in range(0, flat.size, 24)]
    body = ",\n    ".join(rows) if rows else "0"
    return f"static const {ctype} {name}[{max(flat.size, 1)}] {attrs} = {{\n    {body}\n}};\n"


def _comment(text: str) -> str:
    return text.replace("*/", "* /")


def _macs(g: QGraph, node: QNode) -> int:
    return ops.spec(node.op).macs(g, node)


class _Emitter:
    def __init__(self, g: QGraph, plan: MemoryPlan, variant: str, attrs: str,
                 compact_layers: frozenset[int] = frozenset()):
        self.g, self.plan, self.variant, self.attrs = g, plan, variant, attrs
        self.compact_layers = compact_layers
        self.consts: list[str] = []

    def ptr(self, tensor: str) -> str:
        return f"(arena + {self.plan.offsets[tensor]})"

    def const(self, ctype: str, name: str, arr: np.ndarray) -> str:
        self.consts.append(_carray(ctype, name, arr, self.attrs))
        return name

    def body(self, i: int, node: QNode) -> str:
        """C statements for node i: its kernel calls (emb_kernels.h), rendered from the
        op's MCU kernel descriptor (quant/ops/mcu.py)."""
        at = f"layer '{node.name}' ({node.op})"
        s = ops.spec(node.op, at)
        ins, out = node.inputs, node.outputs[0]
        if s.aliases_input:
            if self.plan.offsets[ins[0]] != self.plan.offsets[out]:
                raise EdgembError(f"{at}: memory plan did not alias the output to the input")
            return f"    /* {node.op}: same bytes, new shape */\n"
        if s.mcu is None:
            raise EdgembError(f"{at}: op is not supported by the MCU backend")
        calls = kernel_args.calls(node, [self.g.tensor(t) for t in ins], self.g.tensor(out),
                                  self.variant, i in self.compact_layers)
        mcu = s.mcu
        if i in self.plan.inplace:   # inplace.py: over its own input, a scratch of rows
            if self.plan.offsets[ins[0]] != self.plan.offsets[out]:
                raise EdgembError(f"{at}: memory plan did not put the output over the input")
            mcu = replace(mcu, fn="emb_conv2d_inplace_s8",
                          args=mcu.args + ints("scratch_offset", "band"))
            calls = [{**v, "scratch_offset": self.plan.scratch[i] - self.plan.offsets[out],
                      "band": self.plan.inplace[i][0]} for v in calls]
        p = f"l{i}"
        out_lines = []
        for k, values in enumerate(calls):
            tag = f"{p}_{k}" if len(calls) > 1 else p
            out_lines.append(mcu.render(
                values, input_ptr=lambda j: self.ptr(ins[j]), out_ptr=self.ptr(out),
                const=lambda a, arr, tag=tag: self.const(a.ctype, f"{tag}_{a.name}", arr),
                local=tag))
        return "".join(out_lines)


def layers(g: QGraph, plan: MemoryPlan) -> list[Layer]:
    """The per-layer table (shapes, MACs, where each output lives in the arena)."""
    return [Layer(i, n.name, n.op, _macs(g, n), [list(g.tensor(t).shape) for t in n.inputs],
                  list(g.tensor(n.outputs[0]).shape), plan.offsets[n.outputs[0]],
                  plan.sizes[n.outputs[0]]) for i, n in enumerate(g.nodes)]


def _shape4(shape: tuple[int, ...]) -> str:
    dims = list(shape)[:4] + [0] * (4 - min(len(shape), 4))
    return "{" + ", ".join(map(str, dims)) + "}"


def generate_model(g: QGraph, plan: MemoryPlan, variant: str, out_dir: Path, align: int = 4,
                   const_section: str | None = None,
                   arena_section: str | None = None,
                   external: Mapping[int, ExternalCall] | None = None,
                   compact_layers: frozenset[int] = frozenset(),
                   post: tuple[postprocess.Post, int, int] | None = None) -> list[Layer]:
    """Write `model.h` and `model.c` for `g` into `out_dir`; return the per-layer table.
    Layers in `compact_layers` keep dsp pointwise weights int8 (packing.py). `post`
    (spec, result offset, scratch offset from `postprocess.place`): the device
    post-processing run after a full run, read by `emb_model_postprocessed`.

    Constant arrays and the arena go to the default sections (flash, RAM) unless a section
    is named (e.g. `.emb_bulk` / `.emb_bulk_bss` for a target's bulk memory region).
    Layers in `external` call that kernel instead of the emb_kernels.h one."""
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise EdgembError(f"MCU backend: graph must have one input and one output, "
                          f"has {len(g.inputs)} and {len(g.outputs)}")
    em = _Emitter(g, plan, variant, _attrs(align, const_section), compact_layers)
    funcs = []
    external = external or {}
    for i, node in enumerate(g.nodes):
        ext = external.get(i)
        if ext and i in plan.inplace:
            raise EdgembError(f"layer '{node.name}': an external kernel cannot run in place")
        body = ext.c_body(f"l{i}", em.const, em.ptr) if ext else em.body(i, node)
        funcs.append(f"/* {i}: {_comment(node.name)} ({node.op}) */\n"
                     f"static void layer_{i}(void)\n{{\n{body}}}\n")
    table = layers(g, plan)
    t_in, t_out = g.tensor(g.inputs[0]), g.tensor(g.outputs[0])
    n = len(g.nodes)
    guard = "EMB_GENERATED_MODEL_H"
    (out_dir / "model.h").write_text(
        f"/* Generated by edgemobilenet (backends/mcu/codegen.py). Do not edit. */\n"
        f"#ifndef {guard}\n#define {guard}\n#include \"emb_model.h\"\n\n"
        f"#define EMB_MODEL_HASH \"{g.digest()}\"\n"
        f"#define EMB_MODEL_NUM_LAYERS {n}\n"
        f"#define EMB_MODEL_ARENA_SIZE {plan.arena_bytes}\n"
        f"#define EMB_MODEL_INPUT_SIZE {plan.sizes[t_in.name]}\n"
        f"#define EMB_MODEL_OUTPUT_SIZE {plan.sizes[t_out.name]}\n"
        f"/* The input bytes live in the arena and are overwritten by a run: write the\n"
        f" * input again before every emb_model_run. */\n#endif\n")
    offs = ", ".join(str(r.out_offset) for r in table) or "0"
    sizes = ", ".join(str(r.out_bytes) for r in table) or "0"
    calls = ", ".join(f"layer_{i}" for i in range(n))
    body = (
        "/* Generated by edgemobilenet (backends/mcu/codegen.py). Do not edit. */\n"
        "#include <stddef.h>\n#include <stdint.h>\n"
        "#include \"emb_kernels.h\"\n#include \"emb_model.h\"\n#include \"model.h\"\n"
        + ("#include \"emb_postprocess.h\"\n" if post else "") + "\n"
        + "".join(e.c_prototype() + "\n" for e in external.values())
        + f"static int8_t arena[{max(plan.arena_bytes, 1)}] {_attrs(16, arena_section)};\n\n"
        + "".join(em.consts) + "\n" + "\n".join(funcs))
    if post:
        body += "\n" + postprocess.c_source(g, post[0], em.ptr(t_out.name), post[1], post[2],
                                            _attrs(align, const_section))
    else:
        body += ("\nconst int8_t *emb_model_postprocessed(uint32_t *size)\n{\n"
                 "    if (size) *size = 0;\n    return NULL;\n}\n")
    body += (
        f"\nstatic void (*const layer_fns[{n}])(void) = {{{calls}}};\n"
        f"static const uint32_t layer_offset[{n}] = {{{offs}}};\n"
        f"static const uint32_t layer_size[{n}] = {{{sizes}}};\n\n"
        f"static const emb_model_info_t info = {{\n"
        f"    EMB_MODEL_HASH, {plan.sizes[t_in.name]}u, {plan.sizes[t_out.name]}u,\n"
        f"    {_shape4(t_in.shape)}, {_shape4(t_out.shape)},\n"
        f"    {float(t_in.scale)!r}f, {int(t_in.zero_point)}, "
        f"{float(t_out.scale)!r}f, {int(t_out.zero_point)},\n"
        f"    {plan.arena_bytes}u, {n}u\n}};\n\n"
        "const emb_model_info_t *emb_model_info(void) { return &info; }\n"
        f"int8_t *emb_model_input(void) {{ return {em.ptr(t_in.name)}; }}\n"
        f"const int8_t *emb_model_output(void) {{ return {em.ptr(t_out.name)}; }}\n\n"
        "int emb_model_run(int32_t last_layer, uint32_t *layer_ticks, emb_clock_fn clock)\n{\n"
        f"    if (last_layer == -1) last_layer = {n - 1};\n"
        f"    if (last_layer < 0 || last_layer >= {n}) return -1;\n"
        "    uint32_t t = (layer_ticks && clock) ? clock() : 0;\n"
        "    for (int32_t i = 0; i <= last_layer; i++) {\n"
        "        layer_fns[i]();\n"
        "        if (layer_ticks && clock) {\n"
        "            uint32_t now = clock();\n"
        "            layer_ticks[i] = now - t;\n"
        "            t = now;\n"
        "        }\n    }\n"
        + (f"    if (last_layer == {n - 1}) post_run();\n" if post else "")
        + "    return 0;\n}\n\n"
        "const int8_t *emb_model_layer_output(int32_t layer, uint32_t *size)\n{\n"
        f"    if (layer < 0 || layer >= {n}) return NULL;\n"
        "    if (size) *size = layer_size[layer];\n"
        "    return arena + layer_offset[layer];\n}\n")
    (out_dir / "model.c").write_text(body)
    return table

