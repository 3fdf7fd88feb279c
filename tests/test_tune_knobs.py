"""Tuned schedules from the knob space (`knob_space`) and the databases a Linux compile
applies (`tune_dbs`): the package's database for the target by default, bit-exact on the
emulated core; `--tune-db none` gives the default schedules; a user's database takes
precedence per kernel; a shipped record whose trace no longer applies (schedule code
changed) or that needs weights without -128 falls back to the default schedule with a
note. Shipped files here are written by the test (the package's own: `tools/tune_shipped.py`)."""
from __future__ import annotations

import functools
import json
import random

import numpy as np
import pytest
import tvm
import tvm_ffi
from qgraph_builders import GraphBuilder
from tvm.s_tir import meta_schedule as ms

from edgemobilenet.backends.tvm import knob_space, tile_intrins, tune_dbs
from edgemobilenet.backends.tvm.build import lower, tvm_target
from edgemobilenet.backends.tvm.export import compile_linux
from edgemobilenet.backends.tvm.linux_target import linux_target
from edgemobilenet.backends.tvm.ms_database import open_database, trace_json, workload_key
from edgemobilenet.device.pi_count import count_build
from edgemobilenet.quant import reference
from edgemobilenet.backends.tvm import tvm_compat

RPI4 = linux_target("rpi4")


def _model():
    """An inverted residual block: pointwise 8 -> 20, depthwise 3x3, pointwise 20 -> 8 and
    the residual add (every kernel kind with knobs, and one without; 20 channels: the
    depthwise is the TE kernel, not aarch64's hand-written one for multiples of 8)."""
    b = GraphBuilder(np.random.default_rng(0), (1, 8, 12, 8), 0.05, -10)
    x = b.conv2d("input", 20, kernel=1, act="relu6")
    x = b.conv2d(x, 20, kernel=3, groups=20, act="relu6")
    return b.build(b.add("input", b.conv2d(x, 8, kernel=1)))


def _tuned(g, seed: int = 0, mod=None) -> list[tuple[tvm.IRModule, knob_space.KnobScheduler,
                                                     object]]:
    """(workload, scheduler, schedule with a random non-default knob setting) per kernel
    that has knobs."""
    mod = mod or lower(g, RPI4.tvm_target, schedule=False)
    ks = knob_space.for_module(RPI4.tvm_target, mod)
    rng, out = random.Random(seed), []
    for f in mod.functions.values():
        if isinstance(f, tvm.tirx.PrimFunc) and len(ks.choices(f)) > 1:
            fmod = tvm_compat.normalize_mod(f)
            for knobs in rng.sample(ks.choices(f)[1:], len(ks.choices(f)) - 1):
                sch = ks(fmod["main"], knobs)
                if sch is not None:
                    out.append((fmod, ks, sch))
                    break
    return out


def _ship(path, tuned) -> int:
    """A shipped-format file with these schedules; returns the number of kernels."""
    kernels = {workload_key(fmod): {"workload": workload_key(fmod), "trace": trace_json(sch.trace),
                                    "knobs": knob_space.record_knobs(sch.trace)}
               for fmod, _, sch in tuned}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"target": "rpi4", "kernels": list(kernels.values())}))
    return len(kernels)


def _schedules(manifest) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in manifest["kernels"]:
        out[k["schedule"]] = out.get(k["schedule"], 0) + 1
    return out


@pytest.mark.slow  # compile twice, one emulated run (import tvm under qemu): about 1 min
def test_shipped_database_applied_by_default_and_bit_exact(tmp_path, monkeypatch):
    g = _model()
    monkeypatch.setattr(tune_dbs, "SHIPPED_ROOT", tmp_path / "ship")
    n = _ship(tmp_path / "ship" / "rpi4.json", _tuned(g))
    assert n >= 3
    m = compile_linux(g, "rpi4", tmp_path / "b")
    assert m["tune_dbs"][0]["label"] == "shipped rpi4" and m["tune_dbs"][0]["kernels"] >= n
    assert _schedules(m)["shipped rpi4"] >= n and not m["tune_notes"]
    c = count_build(tmp_path / "b", RPI4.qemu_cpu, inferences=1)
    # the guest's input: numpy's generator with seed 0, as in pi_guest._input
    x = np.random.default_rng(0).integers(-128, 128, size=(1, 8, 12, 8), dtype=np.int8)
    (want,) = reference.run(g, x).values()
    assert c.output["values"] == want.reshape(-1).tolist()

    none = compile_linux(g, "rpi4", tmp_path / "none", tune_dbs.NONE)
    assert none["tune_dbs"] == [] and set(_schedules(none)) == {"default"}
    assert not none["tuned"]


def test_user_database_takes_precedence_per_kernel(tmp_path, monkeypatch):
    g = _model()
    monkeypatch.setattr(tune_dbs, "SHIPPED_ROOT", tmp_path / "ship")
    mod = lower(g, RPI4.tvm_target, schedule=False)
    _ship(tmp_path / "ship" / "rpi4.json", _tuned(g, mod=mod))
    db = open_database(tmp_path / "mine")   # the user's record for one kernel
    tgt, mine = tvm_target(RPI4.tvm_target), []
    for fmod, _, sch in _tuned(g, seed=1, mod=mod):
        w = db.commit_workload(fmod)   # one workload per anchor (conv shape)
        if not mine and tvm_ffi.structural_equal(w.mod, fmod):
            db.commit_tuning_record(ms.database.TuningRecord(sch.trace, w, [1e-6], tgt))
            mine.append((fmod, None, sch))
    m = compile_linux(g, "rpi4", tmp_path / "b", tmp_path / "mine")
    labels = [d["label"] for d in m["tune_dbs"]]
    assert labels == [str(tmp_path / "mine"), "shipped rpi4"]
    mine_keys = {workload_key(f) for f, _, _ in mine}
    by_name = {k["name"]: k["schedule"] for k in m["kernels"]}
    for gv, f in mod.functions.items():
        if isinstance(f, tvm.tirx.PrimFunc) and \
                workload_key(tvm_compat.normalize_mod(f)) in mine_keys:
            assert by_name[gv.name_hint] == str(tmp_path / "mine")
    assert m["tune_dbs"][0]["kernels"] == 1 and m["tune_dbs"][1]["kernels"] >= 2


def test_stale_shipped_record_falls_back_to_the_default_schedule(tmp_path, monkeypatch):
    g = _model()
    monkeypatch.setattr(tune_dbs, "SHIPPED_ROOT", tmp_path / "ship")
    tuned = _tuned(g)[:2]
    _ship(tmp_path / "ship" / "rpi4.json", tuned)
    doc = json.loads((tmp_path / "ship" / "rpi4.json").read_text())
    for k in doc["kernels"]:   # the schedule code renamed the block the trace looks up
        for inst in k["trace"][0]:
            if inst[0] == "GetSBlock" and inst[2][0] != "root":
                inst[2][0] += "_renamed"
    (tmp_path / "ship" / "rpi4.json").write_text(json.dumps(doc))
    m = compile_linux(g, "rpi4", tmp_path / "b")
    assert _schedules(m).get("shipped rpi4", 0) == 0 and not m["tuned"]
    assert len(m["tune_notes"]) == 2
    assert all("no longer applies" in n and "default schedule used" in n
               for n in m["tune_notes"])


def test_neon_tile_record_needs_weights_without_minus_128(tmp_path, monkeypatch):
    g = _model()
    monkeypatch.setattr(tune_dbs, "SHIPPED_ROOT", tmp_path / "ship")
    tuned = [t for t in _tuned(g) if any(
        i[0] == "Tensorize" and tile_intrins.kind(i[2][0]) == "neon"
        for i in trace_json(t[2].trace)[0])]
    assert tuned
    _ship(tmp_path / "ship" / "rpi4.json", tuned)
    n = next(n for n in g.nodes if n.params.get("weight") is not None
             and n.params["weight"].shape[1:3] == (1, 1))
    w = n.params["weight"].copy()
    w[0, 0, 0, 0] = -128
    n.params["weight"] = w
    m = compile_linux(g, "rpi4", tmp_path / "b")
    assert not m["tuned"] and len(m["tune_notes"]) == len(tuned)
    assert all("without -128" in note for note in m["tune_notes"])


ZOO_SHIPPED = ("mobilenet_v2", "mobilenet_v1", "mobilenet_v3_large")   # tools/tune_shipped.py


@functools.lru_cache(maxsize=None)
def _zoo_kernels(arch: str, mattr: tuple[str, ...]) -> tuple[tvm.IRModule, dict[str, str]]:
    """The zoo's `arch` at 1.0-224 (random weights: workloads are shapes) lowered for an
    aarch64 target with `mattr` (the layout depends on it, not on the core), and its kernels'
    workload keys. rpi3 and rpi4 share it."""
    import torch

    from edgemobilenet.models import build
    from edgemobilenet.quant.convert import quantize_module
    from edgemobilenet.backends.tvm.tvm_compat import normalize_mod

    torch.manual_seed(0)
    g = quantize_module(build(arch, 1.0, 224, 1000).eval(), torch.rand(2, 3, 224, 224))
    mod = lower(g, {**linux_target("rpi4").tvm_target, "mattr": list(mattr)}, schedule=False)
    return mod, {gv.name_hint: workload_key(normalize_mod(f)) for gv, f in mod.functions.items()
                 if isinstance(f, tvm.tirx.PrimFunc)}


@pytest.mark.slow  # lowering three 1.0-224 models: about 90 s (4 minutes on a loaded machine)
@pytest.mark.parametrize("target", ["rpi3", "rpi4", "rpi5"])
def test_package_database_applies_to_every_zoo_kernel_it_holds(target):
    """Each shipped database's records still replay on today's kernels and schedule code (a
    failure here: re-run `tools/tune_shipped.py`; users get the default schedules), on every
    kernel of the zoo's models that has the record's workload, and every record belongs to
    one of them; a target without one compiles with the default schedules alone."""
    from edgemobilenet.backends.tvm.ms_database import apply_databases

    if tune_dbs.shipped(target) is None:
        assert tune_dbs.resolve(target, None) == []
        assert [label for label, _ in tune_dbs.resolve(target, "/x")] == ["/x"]
        return
    lt = linux_target(target)
    held = {k["workload"] for k in json.loads(tune_dbs.shipped(target).read_text())["kernels"]}
    seen = set()
    for arch in ZOO_SHIPPED:
        mod, keys = _zoo_kernels(arch, tuple(lt.tvm_target["mattr"]))
        _, applied = apply_databases(mod, tvm_target(lt.tvm_target),
                                     tune_dbs.resolve(target, None),
                                     knob_space.for_module(lt.tvm_target, mod))
        assert not applied.notes, arch
        assert {k for k, w in keys.items() if w in held} <= set(applied.kernels), arch
        seen |= held & set(keys.values())
    assert seen == held
