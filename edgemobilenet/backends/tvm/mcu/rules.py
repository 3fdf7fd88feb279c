"""MetaSchedule search space for single-core Cortex-M: CPU rules without `parallel`.

The target's default rules parallelise outer loops (a serial `TVMBackendParallelLaunch`
stub would hide that cost in a function call per task). Here: inline, multi-level tiling
with the requantization fused at a tile level (candidates that leave it unfused need the
whole int32 accumulator as workspace; the firmware has 16 KB, so they fail in the runner
and the search learns to avoid them), vectorize/unroll with no parallel jobs, random
compute location;
tensorization rules come first when the CPU has an intrinsic (intrin.py).
"""
from __future__ import annotations

from tvm.s_tir import meta_schedule as ms
from tvm.target import Target

from edgemobilenet.backends.tvm.mcu.intrin import has_feature


def schedule_rules(target: Target, intrinsics: list[str] | None = None) -> list:
    mve = has_feature(target, "mve")
    rules = [ms.schedule_rule.AutoInline(
        into_producer=False, into_consumer=True, inline_const_tensor=True,
        disallow_if_then_else=False, require_injective=True, require_ordered=True)]
    for name in intrinsics or []:
        rules.append(ms.schedule_rule.MultiLevelTilingWithIntrin(
            name, structure="SSRSRS", max_innermost_factor=64,
            reuse_write=ms.schedule_rule.ReuseType(req="may", levels=[1, 2], scope="global")))
    rules += [
        ms.schedule_rule.MultiLevelTiling(
            structure="SSRSRS", max_innermost_factor=64,
            reuse_write=ms.schedule_rule.ReuseType(req="may", levels=[1, 2], scope="global")),
        ms.schedule_rule.ParallelizeVectorizeUnroll(
            max_jobs_per_core=-1, max_vectorize_extent=16 if mve else 0,
            unroll_max_steps=[0, 8, 16, 64, 256], unroll_explicit=True),
        ms.schedule_rule.RandomComputeLocation(),
    ]
    return rules


def postprocs(tensorize: bool) -> list:
    procs = [ms.postproc.DisallowDynamicLoop(), ms.postproc.RewriteParallelVectorizeUnroll(),
             ms.postproc.RewriteReductionBlock()]
    if tensorize:
        procs.append(ms.postproc.RewriteTensorize(vectorize_init_loop=False))
    return procs


def mutator_probs() -> dict:
    return {ms.mutator.MutateTileSize(): 0.9, ms.mutator.MutateComputeLocation(): 0.05,
            ms.mutator.MutateUnroll(): 0.03}


def space(target: Target, intrinsics: list[str] | None = None) -> ms.space_generator.PostOrderApply:
    return ms.space_generator.PostOrderApply(
        sch_rules=schedule_rules(target, intrinsics), postprocs=postprocs(bool(intrinsics)),
        mutator_probs=mutator_probs())
