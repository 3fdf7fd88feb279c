"""`manifest.json`: what one MCU compile produced (model hash, memory figures, layers)."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgemobilenet.backends.mcu.codegen import Layer
from edgemobilenet.backends.mcu import planner
from edgemobilenet.backends.mcu.planner import MemoryPlan
from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.targets import Target

FORMAT = "edgemb-mcu-build"
VERSION = 1


def _io(g: QGraph, name: str) -> dict[str, Any]:
    t = g.tensor(name)
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "scale": float(t.scale),
            "zero_point": int(t.zero_point)}


def plan_timeline(g: QGraph, plan: MemoryPlan) -> dict[str, Any]:
    """Every buffer of a plan (offset, bytes, first and last step) for the arena plot: layer
    outputs by layer name, the input, in-place scratch and patch copies by their layer."""
    producer = {n.outputs[0]: n.name for n in g.nodes}
    producer.update({t: "input" for t in g.inputs})
    bufs = [{"name": producer.get(b.tensors[0]) or b.tensors[0].replace(":", " "),
             "offset": b.offset, "bytes": b.size, "start": b.start, "end": b.end}
            for b in plan.buffers]
    return {"arena_bytes": plan.arena_bytes, "lower_bound": plan.lower_bound,
            "buffers": bufs, "live_bytes": plan.live_bytes}


def patch_record(g: QGraph, plan: MemoryPlan) -> dict[str, Any] | None:
    """The patched stage (patch.py): join layer, grid, whether rows are cached down the
    columns (else halos are recomputed), estimated instructions."""
    pp = plan.patch
    if pp is None:
        return None
    return {"join_layer": g.nodes[pp.join].name, "join_index": pp.join,
            "layers": len(pp.stage), "grid": list(pp.grid), "cached_rows": pp.cached,
            "estimated_instructions": {"layer_by_layer": pp.estimate[0],
                                       "patched": pp.estimate[1]}}


def make_manifest(g: QGraph, target: Target, plan: MemoryPlan, layers: list[Layer],
                  flash_bytes: int, sram_bytes: int, bulk_bytes: int, sections: dict[str, int],
                  placement: dict[str, str]) -> dict[str, Any]:
    """The manifest document (plain JSON types)."""
    before = plan_timeline(g, planner.plan(g, plan.alignment))
    return {
        "format": FORMAT, "version": VERSION,
        "target": target.name, "cpu": target.cpu, "kernels": target.kernels,
        "model_hash": g.digest(), "model_meta": g.meta,
        "input": _io(g, g.inputs[0]), "output": _io(g, g.outputs[0]),
        "flash_bytes": flash_bytes, "sram_bytes": sram_bytes, "bulk_bytes": bulk_bytes,
        "flash_budget": target.flash_bytes, "sram_budget": target.sram_bytes,
        "reserved_sram_bytes": target.reserved_sram_bytes,
        "stack_bytes": target.memory.stack_bytes if target.memory else None,
        "arena_bytes": plan.arena_bytes, "arena_lower_bound": plan.lower_bound,
        "arena_alignment": plan.alignment, "plan_strategy": plan.strategy,
        "peak_layer": g.nodes[plan.peak_layer].name if g.nodes else None,
        "in_place_layers": [g.nodes[i].name for i in sorted(plan.inplace)],
        "arena_layer_by_layer": before["arena_bytes"],
        "arena_plans": {"layer_by_layer": before, "chosen": plan_timeline(g, plan)},
        "patch": patch_record(g, plan),
        "sections": sections, "placement": placement,
        "macs": sum(r.macs for r in layers),
        "layers": [{**asdict(r), "live_bytes": plan.live_bytes[r.index],
                    "in_place": ({"band_rows": plan.inplace[r.index][0],
                                  "scratch_bytes": plan.inplace[r.index][1],
                                  "scratch_offset": plan.scratch[r.index]}
                                 if r.index in plan.inplace else None)} for r in layers],
    }


def write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=1) + "\n")


def read(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())
