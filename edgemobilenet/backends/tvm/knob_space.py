"""A MetaSchedule tuning space made of our own default schedules with their knobs sampled.

MetaSchedule's own space rarely beats `default_schedules`, so `edgemb tune` (space "knobs")
searches the hand-written schedules' choices (`default_schedules.Knobs`: the aarch64 conv
tile's pixels, k-blocks per intrinsic call, output-channel blocks, an unrolled reduction;
the depthwise tile's pixels and channel vectors; the conv tile is aarch64's and x86 AVX2's) instead. `space` is the space generator
(one design space: the default knobs), `KnobSweep` the search strategy: the default first,
then, batch by batch, settings one knob away from the best so far, else random ones, never
one twice (a resumed run skips the settings already in the database). Each candidate is an
ordinary traced schedule whose root block carries its knobs (`KNOBS_KEY`), so its record
replays through the normal database path and says which knobs it holds.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import asdict, fields, replace

import tvm
from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir import Schedule

from edgemobilenet.backends.tvm import default_schedules as ds
from edgemobilenet.backends.tvm import te_depthwise
from edgemobilenet.backends.tvm.layouts import K_BLOCK, Layout

KNOBS_KEY = "edgemb_knobs"
# values tried per knob (upper bounds: the schedule takes the largest divisor that fits;
# the register-tile intrinsics need at least 2 pixels and 2 k-blocks)
CONV_VALUES = {"pixels": (2, 4, 7, 8, 12, 14, 16), "kblocks": (2, 4, 8, 16),
               "oc_blocks": (1, 2, 4), "unroll_k": (False, True)}
DW_VALUES = {"dw_pixels": (1, 2, 4, 7, 8, 14, 16), "dw_vectors": (1, 2, 4)}


def knob_text(k: ds.Knobs) -> str:
    return ",".join(f"{f.name}={int(getattr(k, f.name))}" for f in fields(k))


DEFAULT_TEXT = knob_text(ds.DEFAULT_KNOBS)


def parse_knobs(text: str) -> ds.Knobs:
    return ds.Knobs(**{k: type(getattr(ds.DEFAULT_KNOBS, k))(int(v))
                       for k, v in (kv.split("=") for kv in text.split(","))})


def _effective(func: tvm.tirx.PrimFunc, tile: str | None, lanes: int) -> dict | None:
    """{knob: {value tried: the value the schedule uses}} for `func` (None: no knobs)."""
    if ds.hand_written(func):
        return None
    sch = Schedule(func)
    anchor = ds._anchor(sch)
    if anchor is None:
        return None
    name = sch.get(anchor).name_hint
    ext = [ds._extent(sch, lp) for lp in sch.get_loops(anchor)]
    if None in ext:
        return None
    if name == te_depthwise.BLOCK and len(ext) == 6:
        _, _, ow, c, _, _ = ext
        return {"dw_pixels": {v: ds._tile(ow, v) for v in DW_VALUES["dw_pixels"]},
                "dw_vectors": {v: ds._pow2_tile(c, v * lanes) for v in DW_VALUES["dw_vectors"]}}
    if tile and name == "conv_packed" and len(ext) == 7 and ext[-1] > K_BLOCK:
        _, _, ow, oc, _, _, rc = ext
        return {"pixels": {v: ds._tile(ow, v) for v in CONV_VALUES["pixels"]},
                "kblocks": {v: ds._tile(rc // K_BLOCK, v) for v in CONV_VALUES["kblocks"]},
                "oc_blocks": {v: ds._tile(oc // ds.tile_oc_block(tile), v)
                              for v in CONV_VALUES["oc_blocks"]},
                "unroll_k": {v: v for v in CONV_VALUES["unroll_k"]}}
    return None


def choices(func: tvm.tirx.PrimFunc, target: tvm.target.Target,
            tile: str | None) -> list[ds.Knobs]:
    """The knob settings that give `func` distinct schedules, the default first (each as
    the smallest value tried that gives its tile, the defaults as they are)."""
    eff = _effective(func, tile, ds._lanes(target))
    if eff is None:
        return [ds.DEFAULT_KNOBS]
    default = asdict(ds.DEFAULT_KNOBS)
    reps = {}   # knob -> [tried value per distinct effective value], the default's first
    for k, m in eff.items():
        first = {}
        for v in sorted(m, key=lambda v: (v != default[k], v)):
            first.setdefault(m[v] if v in m else v, v)
        reps[k] = list(first.values())
    return [replace(ds.DEFAULT_KNOBS, **dict(zip(reps, combo)))
            for combo in itertools.product(*reps.values())]


class KnobScheduler:
    """Schedules one kernel for `target` with given knobs, their text on the root block."""

    def __init__(self, target: tvm.target.Target, lay: Layout | None, tensorize: bool,
                 narrow: bool) -> None:
        self.target, self.lay, self.tensorize, self.narrow = target, lay, tensorize, narrow
        self.tile = ds.tile_kind(lay, tensorize, narrow)

    def choices(self, func: tvm.tirx.PrimFunc) -> list[ds.Knobs]:
        return choices(func, self.target, self.tile)

    def __call__(self, func: tvm.tirx.PrimFunc, knobs: ds.Knobs) -> Schedule | None:
        sch = ds.scheduler(self.lay, self.tensorize, self.narrow, knobs)(func, self.target, True)
        if sch is not None:
            sch.annotate(sch.get_sblock("root"), KNOBS_KEY, knob_text(knobs))
        return sch


def for_module(target: dict, mod: tvm.IRModule) -> KnobScheduler:
    """The knob scheduler `default_schedules.apply` matches for `mod` on a TVM target dict."""
    from edgemobilenet.backends.tvm import intrin_neon, layouts

    lay = layouts.select(target)
    narrow = lay is layouts.NEON and intrin_neon.narrow_weights(mod)
    return KnobScheduler(tvm.target.Target(dict(target)), lay, True, narrow)


def space(knobs: KnobScheduler) -> ms.space_generator.ScheduleFn:
    """The space generator: one design space, the default schedule."""

    def fn(sch: Schedule) -> list[Schedule]:
        out = knobs(sch.mod["main"], ds.DEFAULT_KNOBS)
        return [out] if out is not None else [sch]

    return ms.space_generator.ScheduleFn(fn, sch_rules=[], postprocs=[], mutator_probs={})


def record_knobs(trace) -> str | None:
    """The knobs a record's trace was made with (None: not from this space)."""
    for inst in trace.insts:
        if inst.kind.name == "Annotate" and len(inst.attrs) and str(inst.attrs[0]) == KNOBS_KEY:
            return str(inst.inputs[1])
    return None


@derived_object
class KnobSweep(ms.search_strategy.PySearchStrategy):
    """Search over `choices`: default first, then neighbours of the best, else random.
    `args` (`kernel_args.KernelArgs`) is told which task each candidate is for."""

    def __init__(self, knobs: KnobScheduler, args=None, seed: int = 0) -> None:
        super().__init__()
        self.knobs, self.args, self.seed = knobs, args, seed

    def _initialize_with_tune_context(self, context) -> None:
        self.mod, self.task = context.mod, str(context.task_name)

    def pre_tuning(self, max_trials, num_trials_per_iter, design_spaces, database=None,
                   cost_model=None) -> None:
        self.left, self.per_iter = int(max_trials), int(num_trials_per_iter)
        self.rand = random.Random(self.seed)
        self.todo = self.knobs.choices(self.mod["main"])
        self.cost: dict[str, float] = {}
        if database is not None and database.has_workload(self.mod):
            for r in database.get_top_k(database.commit_workload(self.mod), 10 ** 6):
                k = record_knobs(r.trace)
                if k is not None:
                    self.cost[k] = min(float(s) for s in r.run_secs)
        default, rest = self.todo[0], self.todo[1:]
        self.rand.shuffle(rest)
        self.todo = [k for k in [default, *rest] if knob_text(k) not in self.cost]

    def post_tuning(self) -> None:
        pass

    def _next(self) -> ds.Knobs:
        if self.cost and self.todo:
            best = parse_knobs(min(self.cost, key=self.cost.get))
            near = [k for k in self.todo
                    if sum(getattr(k, f.name) != getattr(best, f.name) for f in fields(k)) == 1]
            if near:
                pick = self.rand.choice(near)
                self.todo.remove(pick)
                return pick
        return self.todo.pop(0)

    def generate_measure_candidates(self):
        out = []
        while self.todo and self.left > 0 and len(out) < self.per_iter:
            knobs = self._next()
            sch = self.knobs(self.mod["main"], knobs)
            if sch is not None:   # a setting the schedule cannot take costs no trial
                if self.args is not None:
                    self.args.note(sch.mod, self.task)
                self.left -= 1
                out.append(ms.search_strategy.MeasureCandidate(
                    sch, ms.arg_info.ArgInfo.from_entry_func(sch.mod, remove_preproc=True)))
        return out or None

    def notify_runner_results(self, measure_candidates, results) -> None:
        for c, r in zip(measure_candidates, results):
            k = record_knobs(c.sch.trace)
            if k is not None:
                ok = r.run_secs and not r.error_msg
                self.cost[k] = min(float(s) for s in r.run_secs) if ok else float("inf")

    def clone(self) -> "KnobSweep":
        return KnobSweep(self.knobs, self.args, self.seed)
