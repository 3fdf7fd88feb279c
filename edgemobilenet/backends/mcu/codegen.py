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

from edgemobilenet.backends.mcu import kernel_args, patch, planner, postprocess
from edgemobilenet.backends.mcu.planner import MemoryPlan
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import ops
from edgemobilenet.quant.ops.mcu import Window, ints
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

    def table(self, ctype: str, name: str, rows: list) -> str:
        """A const table in the function (one row per patch or per distinct value)."""
        def c(v):
            return "{" + ", ".join(map(str, v)) + "}" if isinstance(v, (list, tuple)) else str(v)
        dims = f"[{len(rows)}]" + (f"[{len(rows[0])}]" if ctype == "int32_t" and
                                   isinstance(rows[0], (list, tuple)) else "")
        return f"    static const {ctype} {name}{dims} = {{{', '.join(c(r) for r in rows)}}};\n"

    def stage(self, pp: patch.PatchPlan) -> str:
        """C statements of the patched stage (patch.py): a loop over the tiles of the join
        in which every stage layer runs over its window (per-patch values from tables),
        window copies first, and the tile goes into the join buffer."""
        g, plan = self.g, self.plan
        jt = g.nodes[pp.join].outputs[0]
        jrow = g.tensor(jt).shape[2] * g.tensor(jt).shape[3]
        tables, loop = [], []

        def copy(name: str, rows: list[list[int]], dst: str, src: str, to_join: bool) -> None:
            # rows per patch: [offset, stride, rows, row bytes]
            tables.append(self.table("int32_t", name, rows))
            r = f"{name}[n]"
            if to_join:
                loop.append(f"        window_copy({dst} + {r}[0], {jrow}, {src}, {r}[3], "
                            f"{r}[2], {r}[3]);\n")
            else:
                loop.append(f"        window_copy({dst}, {r}[3], {src} + {r}[0], {r}[1], "
                            f"{r}[2], {r}[3]);\n")

        def at(name: str, offsets: list[int]) -> str:
            # a per-patch byte offset (none if always 0)
            if not any(offsets):
                return ""
            tables.append(self.table("int32_t", name, offsets))
            return f" + {name}[n]"

        convs = patch.conv_geometry(g)
        for k in pp.stage:
            n = g.nodes[k]
            t_out = n.outputs[0]
            c_out = g.tensor(t_out).shape[3]
            ptrs = []
            for j, t in enumerate(n.inputs):
                c = g.tensor(t).shape[3]
                if (k, j) not in pp.windows:   # whole rows of what t holds
                    ptrs.append(self.ptr(t) + at(f"l{k}_o{j}", [
                        (p.reads[(k, j)].y0 - p.held[t].y0) * p.held[t].hw[1] * c
                        for p in pp.patches]))
                    continue
                rows = []
                for p in pp.patches:
                    src, box = p.held[t], p.reads[(k, j)]
                    stride = (src.x1 - src.x0) * c
                    rows.append([(box.y0 - src.y0) * stride + (box.x0 - src.x0) * c, stride,
                                 box.y1 - box.y0, (box.x1 - box.x0) * c])
                dst = f"(arena + {plan.temps[planner.window_name(g, k, j)]})"
                copy(f"l{k}_w{j}", rows, dst, self.ptr(t), False)
                ptrs.append(dst)
            if k == pp.join and pp.tile:
                out = f"(arena + {plan.temps[planner.tile_name(g, k)]})"
            elif k == pp.join:
                out = self.ptr(jt) + at(f"l{k}_at", [p.held[jt].y0 * jrow for p in pp.patches])
            else:
                out = self.ptr(t_out) + at(f"l{k}_out", [
                    (p.out(t_out).y0 - p.held[t_out].y0) * p.held[t_out].hw[1] * c_out
                    for p in pp.patches])
            save = ""
            if t_out in pp.caches:   # cached rows: restore those kept, save those to keep
                cache = f"(arena + {plan.temps[planner.cache_name(t_out)]})"
                keep = []
                for p, below in zip(pp.patches, pp.patches[1:] + [None]):
                    row = p.held[t_out].hw[1] * c_out
                    nxt = below.kept.get(t_out, (0, 0)) if below else (0, 0)
                    keep.append([nxt[0] * row, nxt[1] * row,
                                 p.kept.get(t_out, (0, 0))[1] * row])
                tables.append(self.table("int32_t", f"l{k}_keep", keep))
                loop.append(f"        memcpy({self.ptr(t_out)}, {cache}, "
                            f"(size_t)l{k}_keep[n][2]);\n")
                save = (f"        memcpy({cache}, {self.ptr(t_out)} + l{k}_keep[n][0], "
                        f"(size_t)l{k}_keep[n][1]);\n")
            calls, mcu = self.values(k, n)
            per = []
            for p in pp.patches:
                ob, ib = p.out(t_out), p.reads[(k, 0)]
                pad = patch.conv_pad(g, k, ob, convs) if n.op == "conv2d" else (0, 0)
                win = Window(ib.hw, ob.hw, pad, ob.hw[0] * ob.hw[1] * c_out)
                per.append(mcu.window(calls[0], win))
            vary = [a for a in mcu.args if a.kind in ("int", "struct")
                    and any(v[a.name] != per[0][a.name] for v in per)]
            keys = [tuple(tuple(v[a.name]) if a.kind == "struct" else v[a.name] for a in vary)
                    for v in per]
            distinct = sorted(set(keys), key=keys.index)
            exprs = {}
            if vary:
                tables.append(self.table("uint16_t", f"l{k}_i",
                                         [distinct.index(key) for key in keys]))
            for m, a in enumerate(vary):
                name = f"l{k}_{a.name}"
                tables.append(self.table(a.ctype, name, [d[m] for d in distinct]))
                exprs[a.name] = f"{'&' if a.kind == 'struct' else ''}{name}[l{k}_i[n]]"
            loop.append("    " + mcu.render(
                per[0], input_ptr=lambda j: ptrs[j], out_ptr=out,
                const=lambda a, arr, k=k: self.const(a.ctype, f"l{k}_{a.name}", arr),
                local=f"l{k}", exprs_of=exprs).replace("\n    ", "\n        ") + save)
            if k == pp.join and pp.tile:
                rows = [[p.held[jt].y0 * jrow + p.held[jt].x0 * c_out, 0, p.held[jt].hw[0],
                         p.held[jt].hw[1] * c_out] for p in pp.patches]
                copy(f"l{k}_tile", rows, self.ptr(jt), out, True)
        return ("".join(tables)
                + f"    for (int32_t n = 0; n < {len(pp.patches)}; n++) {{   "
                f"/* {pp.grid[0]} x {pp.grid[1]} patches */\n" + "".join(loop) + "    }\n")

    def values(self, i: int, node: QNode) -> tuple[list[dict], object]:
        """The argument values of node i's kernel calls, and its descriptor."""
        s = ops.spec(node.op, f"layer '{node.name}' ({node.op})")
        if s.mcu is None:
            raise EdgembError(f"layer '{node.name}' ({node.op}): op is not supported by the "
                              f"MCU backend")
        return (kernel_args.calls(node, [self.g.tensor(t) for t in node.inputs],
                                  self.g.tensor(node.outputs[0]), self.variant,
                                  i in self.compact_layers), s.mcu)

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
        calls, mcu = self.values(i, node)
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


_WINDOW_COPY = """/* patch-based execution: rows of a window from one buffer to another */
static void window_copy(int8_t *dst, int32_t dst_stride, const int8_t *src,
                        int32_t src_stride, int32_t rows, int32_t row_bytes)
{
    for (int32_t r = 0; r < rows; r++)
        memcpy(dst + r * dst_stride, src + r * src_stride, (size_t)row_bytes);
}

"""


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
    pp = plan.patch
    for i, node in enumerate(g.nodes):
        ext = external.get(i)
        if ext and (i in plan.inplace or (pp and i <= pp.join)):
            raise EdgembError(f"layer '{node.name}': an external kernel cannot run in place "
                              f"or in patches")
        if pp and i < pp.join:
            body = f"    /* runs in patches, in layer_{pp.join} */\n"
        elif pp and i == pp.join:
            body = em.stage(pp)
        else:
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
    # layers run in patches (but the join) have no whole output to read back
    sizes = ", ".join(str(0 if pp and r.index < pp.join else r.out_bytes)
                      for r in table) or "0"
    calls = ", ".join(f"layer_{i}" for i in range(n))
    body = (
        "/* Generated by edgemobilenet (backends/mcu/codegen.py). Do not edit. */\n"
        "#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n"
        "#include \"emb_kernels.h\"\n#include \"emb_model.h\"\n#include \"model.h\"\n"
        + ("#include \"emb_postprocess.h\"\n" if post else "") + "\n"
        + "".join(e.c_prototype() + "\n" for e in external.values())
        + f"static int8_t arena[{max(plan.arena_bytes, 1)}] {_attrs(16, arena_section)};\n\n"
        + (_WINDOW_COPY if pp else "")
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

