"""Compile a QGraph for an MCU target, as a sequence of passes over the graph:

choose in-place depthwise layers (inplace.py) -> plan memory (planner.py) -> choose weight layouts and placement (layout.py) -> choose
kernels (handed in: `KernelChooser`, e.g. the TVM selection of backends/tvm/mcu/select.py,
wired by edgemobilenet/pipeline.py) -> emit C (codegen.py, project.py) -> build (make) ->
measure the ELF (elf.py) -> manifest (manifest.py).

The build directory appears atomically: everything is produced in a temporary sibling
directory that is renamed into place only when the firmware linked, so a failed compile
leaves nothing half-written.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from edgemobilenet.backends.mcu import (codegen, elf, inplace, layout, manifest, patch,
                                        planner, postprocess, project)
from edgemobilenet import child
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import qgraph
from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.targets import Target


class KernelSelection(Protocol):
    """Layers run by kernels from outside firmware/kernels, with their object files."""

    calls: Mapping[int, codegen.ExternalCall]
    objects: list[Path]

    def manifest_rows(self) -> dict[int, dict[str, Any]]: ...


# (work dir, layers with compact weights) -> the selection; called once per compile
KernelChooser = Callable[[Path, frozenset[int]], KernelSelection]


def arena_alignment(target: Target) -> int:
    return 16 if target.features.get("mve") else 4


def _make(build: Path, target: Target, jobs: int) -> Path:
    if shutil.which(target.compiler or "") is None:
        raise EdgembError(f"{target.path.name}: compiler '{target.compiler}' not found "
                          f"(tools/setup.sh installs it)")
    r = child.run(["make", "-s", "-C", str(build), f"-j{jobs}"], f"firmware for {target.name}",
                  child.COMPILE_TIMEOUT_S)
    if r.returncode != 0:
        lines = (r.stderr or r.stdout).strip().splitlines()
        first = next((ln for ln in lines if "error" in ln.lower()), lines[0] if lines else "")
        raise EdgembError(f"firmware for {target.name}: build failed: {first}")
    return build / "firmware.elf"


def _plan(g: QGraph, target: Target, in_place: Mapping[int, tuple[int, int]],
          post: postprocess.Post | None, pp: patch.PatchPlan | None = None
          ) -> tuple[planner.MemoryPlan, Any]:
    """The memory plan, grown for device post-processing (with its offsets) if any."""
    plan = planner.plan(g, arena_alignment(target), in_place, pp)
    if post is None:
        return plan, None
    plan, res_off, scr_off = postprocess.place(g, plan, post)
    return plan, (post, res_off, scr_off)


def compile_model(g: QGraph, target: Target, out_dir: Path, *, jobs: int = 2,
                  step: Callable[[str], None] | None = None,
                  kernels: KernelChooser | None = None,
                  weight_layout: str = "auto", memory: str = "auto",
                  post: postprocess.Post | None = None) -> dict[str, Any]:
    """Build `out_dir` (firmware.elf, model.c/h, model.qgraph, manifest.json); return the
    manifest. `step` is told the name of each pass (for a progress display). `kernels`
    chooses the layers run by external (e.g. TVM-generated) kernels; the others, and all
    without it, run the hand-written kernels of the target's variant. `weight_layout`:
    see `layout.place`; the manifest records the one used. `memory`: which depthwise
    layers run in place (`inplace.choose`: auto / fast / min). `post`: device
    post-processing after the last layer (backends/mcu/postprocess.py), its memory in the
    arena."""
    if target.kind != "mcu":
        raise EdgembError(f"{target.path.name}: target '{target.name}' is {target.kind}, "
                          f"the MCU backend needs kind 'mcu'")
    say = step or (lambda _: None)
    qgraph.validate(g, "compile")
    say("plan")
    variant = target.kernels or "portable"
    room = (target.sram_bytes - (target.reserved_sram_bytes or 0)
            if target.sram_bytes is not None else None)
    pp, in_place = patch.choose(g, memory, arena_alignment(target), variant, room)
    plan, post_at = _plan(g, target, in_place, post, pp)
    where = layout.place(g, plan, target, weight_layout)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        sel = None
        if kernels is not None:
            say("select kernels")
            sel = kernels(tmp / ".kernels", where.compact_layers)
            if pp and set(sel.calls) & set(pp.stage):   # external kernels take whole maps
                pp, in_place = None, inplace.choose(g, memory, arena_alignment(target))
            if set(sel.calls) & set(in_place):   # external kernels write a separate output
                in_place = {i: v for i, v in in_place.items() if i not in sel.calls}
            if plan.patch is not pp or set(plan.inplace) != set(in_place):
                plan, post_at = _plan(g, target, in_place, post, pp)
                where = layout.place(g, plan, target, weight_layout)   # same weights
        say("generate")
        layers = codegen.generate_model(g, plan, variant, tmp,
                                        arena_alignment(target), where.const_section,
                                        where.arena_section, sel.calls if sel else None,
                                        where.compact_layers, post_at)
        project.write_project(target, tmp, sel.objects if sel else [])
        qgraph.save(g, tmp / "model.qgraph")
        say("build")
        fw = _make(tmp, target, jobs)
        flash, sram, bulk, sections = elf.measure(fw, target)
        doc = manifest.make_manifest(g, target, plan, layers, flash, sram, bulk, sections,
                                     {"constants": where.const_section or "flash",
                                      "arena": where.arena_section or "sram",
                                     **layout.layout_record(g, target.kernels or "portable",
                                                           where.compact_layers)})
        if post_at is not None:
            doc["postprocess"] = postprocess.manifest_record(*post_at)
        if sel is not None:
            for i, row in sel.manifest_rows().items():
                doc["layers"][i]["kernel"] = row
            shutil.rmtree(tmp / ".kernels", ignore_errors=True)
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
