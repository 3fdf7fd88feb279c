"""Compile a QGraph for an MCU target: plan, fit check, generate, make, measure, manifest.

The build directory appears atomically: everything is produced in a temporary sibling
directory that is renamed into place only when the firmware linked, so a failed compile
leaves nothing half-written. Flash and SRAM figures are read from the linked ELF.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgemobilenet.backends.mcu import codegen, manifest, packing, planner, project
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import qgraph
from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.targets import Target

BULK_CONST, BULK_ARENA = ".emb_bulk", ".emb_bulk_bss"   # firmware/boards/common/sections.ld
# flash the code, runtime and kernels take beyond the weights (measured -O2 M4 ELFs: 15-25 KB)
CODE_ALLOWANCE = 32 * 1024
_SECTION = re.compile(r"^\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)"
                      r"\s+[0-9a-f]+\s+(\S*)\s+\d+\s+\d+\s+\d+\s*$")


def _kb(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n >= 10 * 1024 else f"{n / 1024:.1f} KB"


def arena_alignment(target: Target) -> int:
    return 16 if target.features.get("mve") else 4


WEIGHT_LAYOUTS = ("auto", "fast", "compact")


def const_bytes(g: QGraph, variant: str, compact: frozenset[int] = frozenset()) -> int:
    """Bytes of constant data (weights, biases, requantization, tables) the model emits;
    the layers in `compact` keep dsp pointwise weights int8."""
    total = 0
    for i, n in enumerate(g.nodes):
        for k, v in n.params.items():
            if k == "w_scale" or (n.op == "mul" and k in ("multiplier", "shift")):
                continue
            if k == "weight":
                v = packing.pack_weights(n.op, n.attrs, v, variant, i in compact)
            total += int(v.nbytes)
    return total


def compact_candidates(g: QGraph, variant: str) -> list[int]:
    """Layers whose weights the compact layout halves, cheapest first: the smallest output
    (fewest MACs per weight byte saved) loses the least speed per byte."""
    if variant != "dsp":
        return []
    idx = [i for i, n in enumerate(g.nodes) if n.op == "conv2d" and
           packing.has_w16_pointwise(n.op, n.attrs, n.params["weight"])]
    return sorted(idx, key=lambda i: int(np.prod(g.tensor(g.nodes[i].outputs[0]).shape)))


def choose_compact(g: QGraph, variant: str, layout: str, budget: int) -> frozenset[int]:
    """The layers to keep compact: none ("fast"), all ("compact"), or ("auto") the fewest,
    cheapest first, that bring the weights within `budget` bytes (all if none does)."""
    cands = compact_candidates(g, variant)
    if layout == "fast" or not cands:
        return frozenset()
    if layout == "compact":
        return frozenset(cands)
    need = const_bytes(g, variant) - budget
    chosen: list[int] = []
    for i in cands:
        if need <= 0:
            break
        n = g.nodes[i]
        w = n.params["weight"]
        need -= packing.pack_weights(n.op, n.attrs, w, variant).nbytes - w.nbytes
        chosen.append(i)
    return frozenset(chosen)


@dataclass
class Placement:
    """Where the constants and the arena go: None is the default (flash / RAM); a name is
    a section of the target's bulk memory region."""

    const_section: str | None = None
    arena_section: str | None = None
    compact_layers: frozenset[int] = frozenset()   # dsp pointwise weights kept int8


def _sram_error(g: QGraph, plan: planner.MemoryPlan, target: Target, extra: str) -> EdgembError:
    i = plan.peak_layer
    node = g.nodes[i]
    live = sorted(((b.size, b.tensors[0]) for b in plan.buffers if b.start <= i <= b.end),
                  reverse=True)[:3]
    detail = ", ".join(f"{t} {_kb(s)}" for s, t in live)
    return EdgembError(
        f"model needs {_kb(plan.arena_bytes)} SRAM for activations, {target.name} has "
        f"{_kb(target.sram_bytes or 0)}, {_kb(target.reserved_sram_bytes or 0)} reserved for "
        f"stack and I/O{extra}; peak at layer '{node.name}' ({node.op}: {detail})")


def place(g: QGraph, plan: planner.MemoryPlan, target: Target,
          layout: str = "auto") -> Placement:
    """Check that the model fits (before anything is built) and choose where the weights
    and the arena live: flash and SRAM, else the target's bulk region if it has one.
    `layout` "fast" / "compact" chooses the dsp pointwise weight layout (packing.py) for
    every layer; "auto" keeps the fast one except on the fewest layers (cheapest first)
    whose compact weights make the model fit flash."""
    assert target.sram_bytes is not None and target.flash_bytes is not None
    if layout not in WEIGHT_LAYOUTS:
        raise EdgembError(f"weight layout must be one of {', '.join(WEIGHT_LAYOUTS)}, "
                          f"not '{layout}'")
    bulk = target.memory.bulk_length if target.memory else None
    variant = target.kernels or "portable"
    compact = choose_compact(g, variant, layout, target.flash_bytes - CODE_ALLOWANCE)
    weights = const_bytes(g, variant, compact)
    if layout == "auto" and bulk and weights + CODE_ALLOWANCE > target.flash_bytes:
        compact = frozenset()   # the weights go to the bulk region anyway: keep them fast
        weights = const_bytes(g, variant)
    arena_out = plan.arena_bytes + (target.reserved_sram_bytes or 0) > target.sram_bytes
    const_out = weights + CODE_ALLOWANCE > target.flash_bytes
    if arena_out and not bulk:
        raise _sram_error(g, plan, target, "")
    if const_out and not bulk:
        big = max(g.nodes, key=lambda n: sum(v.nbytes for v in n.params.values()))
        how = f" (pointwise weights int8 on {len(compact)} layers)" if compact else ""
        raise EdgembError(
            f"model needs {_kb(weights)} flash for weights{how} (+ about "
            f"{_kb(CODE_ALLOWANCE)} code), {target.name} has {_kb(target.flash_bytes)}; "
            f"largest layer '{big.name}' ({big.op}, "
            f"{_kb(sum(v.nbytes for v in big.params.values()))})")
    in_bulk = weights * const_out + plan.arena_bytes * arena_out
    if bulk and in_bulk > bulk:
        raise _sram_error(g, plan, target, f" and its bulk region {_kb(bulk)} cannot hold "
                                           f"{_kb(in_bulk)} of weights and activations")
    return Placement(BULK_CONST if const_out else None, BULK_ARENA if arena_out else None,
                     compact)


def layout_record(g: QGraph, variant: str, compact: frozenset[int]) -> dict[str, Any]:
    """The manifest's record of the pointwise weight layout."""
    cands = compact_candidates(g, variant)
    kind = "fast" if not compact else "compact" if len(compact) == len(cands) else "mixed"
    return {"weight_layout": kind, "compact_layers": [g.nodes[i].name for i in sorted(compact)]}


def elf_sections(elf: Path, readelf: str) -> list[tuple[str, str, int, str]]:
    """(name, type, size, flags) of every section, from `readelf -S -W`."""
    r = subprocess.run([readelf, "-S", "-W", str(elf)], capture_output=True, text=True)
    if r.returncode != 0:
        raise EdgembError(f"{elf}: readelf failed: {r.stderr.strip()}")
    out = []
    for line in r.stdout.splitlines():
        m = _SECTION.match(line)
        if m:
            out.append((m.group(1), m.group(2), int(m.group(3), 16), m.group(4)))
    return out


def measure(elf: Path, target: Target) -> tuple[int, int, int, dict[str, int]]:
    """(flash_bytes, sram_bytes, bulk_bytes, allocated sections) of a linked ELF.

    Flash: allocated sections with contents (text, rodata, exidx, the .data load image).
    SRAM: writable allocated sections (data, bss) plus the target's stack reservation.
    Bulk: the .emb_bulk* sections when the target has a bulk region (else they are in
    flash and SRAM).
    """
    readelf = (target.compiler or "gcc").removesuffix("gcc") + "readelf"
    if shutil.which(readelf) is None:
        readelf = "readelf"
    secs = [s for s in elf_sections(elf, readelf) if "A" in s[3] and s[2] > 0]
    has_bulk = bool(target.memory and target.memory.bulk_length)
    bulk = sum(s[2] for s in secs if has_bulk and s[0].startswith(BULK_CONST))
    rest = [s for s in secs if not (has_bulk and s[0].startswith(BULK_CONST))]
    flash = sum(size for _, typ, size, _ in rest if typ != "NOBITS")
    stack = target.memory.stack_bytes if target.memory else 0
    sram = sum(size for _, _, size, flags in rest if "W" in flags) + stack
    return flash, sram, bulk, {name: size for name, _, size, _ in secs}


def _make(build: Path, target: Target, jobs: int) -> Path:
    if shutil.which(target.compiler or "") is None:
        raise EdgembError(f"{target.path.name}: compiler '{target.compiler}' not found "
                          f"(tools/setup.sh installs it)")
    r = subprocess.run(["make", "-s", "-C", str(build), f"-j{jobs}"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        lines = (r.stderr or r.stdout).strip().splitlines()
        first = next((ln for ln in lines if "error" in ln.lower()), lines[0] if lines else "")
        raise EdgembError(f"firmware for {target.name}: build failed: {first}")
    return build / "firmware.elf"


def compile_model(g: QGraph, target: Target, out_dir: Path, *, jobs: int = 2,
                  step: Callable[[str], None] | None = None,
                  tune_db: Path | None = None, kernel_choice: str = "fastest",
                  selection: Any = None, connect: Any = None,
                  weight_layout: str = "auto") -> dict[str, Any]:
    """Build `out_dir` (firmware.elf, model.c/h, model.qgraph, manifest.json); return the
    manifest. `step` is told the name of each stage (for a progress display). With a
    `tune_db` (MetaSchedule database of `edgemb tune`), each tuned layer runs the faster
    of its hand-written and its TVM kernel, as measured in QEMU (`kernel_choice` "tvm":
    every tuned layer runs its TVM kernel). A ready `selection` (`backends.tvm.mcu.select.
    Selection`, objects already built) is linked as given instead. With `connect`
    (`backends.tvm.mcu.board_runner`), kernels are compared on the board, not in QEMU.
    `weight_layout`: see `place`; the manifest records the one used."""
    if target.kind != "mcu":
        raise EdgembError(f"{target.path.name}: target '{target.name}' is {target.kind}, "
                          f"the MCU backend needs kind 'mcu'")
    say = step or (lambda _: None)
    g.validate("compile")
    say("plan")
    plan = planner.plan(g, alignment=arena_alignment(target))
    where = place(g, plan, target, weight_layout)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        sel = selection
        if tune_db is not None:
            say("select kernels")
            from edgemobilenet.backends.tvm.mcu.select import select_kernels  # TVM on demand
            sel = select_kernels(g, target, Path(tune_db), tmp / ".tvm", kernel_choice,
                                 connect, where.compact_layers)
        say("generate")
        layers = codegen.generate_model(g, plan, target.kernels or "portable", tmp,
                                        arena_alignment(target), where.const_section,
                                        where.arena_section, sel.calls if sel else None,
                                        where.compact_layers)
        project.write_project(target, tmp, sel.objects if sel else [])
        qgraph.save(g, tmp / "model.qgraph")
        say("build")
        elf = _make(tmp, target, jobs)
        flash, sram, bulk, sections = measure(elf, target)
        doc = manifest.make_manifest(g, target, plan, layers, flash, sram, bulk, sections,
                                     {"constants": where.const_section or "flash",
                                      "arena": where.arena_section or "sram",
                                     **layout_record(g, target.kernels or "portable",
                                                    where.compact_layers)})
        if sel is not None:
            for i, row in sel.manifest_rows().items():
                doc["layers"][i]["kernel"] = row
            shutil.rmtree(tmp / ".tvm", ignore_errors=True)
        manifest.write(tmp / "manifest.json", doc)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return doc


def _replace_dir(new: Path, dst: Path) -> None:
    """Rename `new` to `dst`, replacing an existing directory (kept until the rename)."""
    if dst.exists():
        if not (dst / "manifest.json").is_file() and any(dst.iterdir()):
            raise EdgembError(f"{dst}: exists and is not an edgemb build directory; "
                              f"refusing to replace it")
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        dst.rename(old)
        new.rename(dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(dst)
