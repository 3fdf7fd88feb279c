"""Measure a build on a device: latency (median/p90 over R runs, per layer), accuracy
(device top-1/top-5 against the float model and the int8 reference executor, and the share of
outputs bit-identical to the reference, with the first differing layer on a mismatch) and
memory (manifest figures plus the device's stack high-water).

The device is reached through a `Runner` (MCU over serial or QEMU here; Linux boards over
TVM RPC, emulated or not, in `device/rpc_runner.py`). Linux boards time each run on the board
(`time_evaluator`), have no per-layer breakdown (the Relax VM runs fused functions) and no
stack or arena figures (the TVM runtime allocates from the heap): those are omitted with a
note. This module never prints: it returns one JSON-able dict.
"""
from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from edgemobilenet.backends.mcu.debug import first_mismatch
from edgemobilenet.build_dir import read_manifest
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import qgraph, reference
from edgemobilenet.quant.qgraph import QGraph
from edgemobilenet.targets import Target, load_target

INSTRUCTIONS_LABEL = "instructions (QEMU -icount), not cycles"
# stage name, done, total
Progress = Callable[[str, int, int], None]


@dataclass
class Build:
    """A build directory: its manifest, QGraph and (MCU) firmware or (Linux) TVM library."""

    path: Path
    manifest: dict[str, Any]
    graph: QGraph
    elf: Path | None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.graph.tensors[self.graph.inputs[0]].shape)

    @property
    def is_linux(self) -> bool:
        """A TVM build for a Linux board (run over TVM RPC), not MCU firmware."""
        return self.manifest.get("backend") == "tvm"


def load_build(build_dir: str | Path) -> Build:
    """Read BUILD_DIR/manifest.json and model.qgraph; the QGraph must be the manifest's model."""
    d, doc = read_manifest(build_dir)
    key = "library" if doc.get("backend") == "tvm" else "layers"
    if key not in doc:
        raise EdgembError(f"{d / 'manifest.json'}: no '{key}' field (incomplete build: run "
                          "`edgemb compile` again)")
    qg = d / "model.qgraph"
    if not qg.is_file():
        raise EdgembError(f"{d}: no model.qgraph (incomplete build: run `edgemb compile` again)")
    g = qgraph.load(qg)
    if g.digest() != doc["model_hash"]:
        raise EdgembError(f"{qg}: model hash {g.digest()[:12]} differs from the manifest's "
                          f"{doc['model_hash'][:12]} (rebuild the directory)")
    elf = d / "firmware.elf"
    return Build(d, doc, g, elf if elf.is_file() else None)


class Runner(Protocol):
    """One device running one build, as the bench sees it.

    Optional attributes: `unit_label` (how to label ticks for people; default: the unit),
    `has_layer_outputs` (False: layer_output() is unavailable, default True),
    `latency_info` (extra latency fields, e.g. {"emulated", "board_cpu"})."""

    transport: str               # e.g. "qemu mps2-an386", "serial /dev/ttyACM0"
    unit: str                    # what run() ticks count: "instructions" | "cycles" | "ns"
    ms_per_tick: float | None    # None when ticks are not time (emulated instructions)

    def run(self, x: np.ndarray) -> tuple[np.ndarray, int]: ...
    def layer_profile(self) -> list[int] | None: ...
    def outputs(self, xs: np.ndarray, progress: Callable[[int], None] | None) -> np.ndarray: ...
    def layer_output(self, x: np.ndarray, layer: int) -> np.ndarray: ...
    def stack_high_water(self) -> int | None: ...


class McuRunner:
    """A Cortex-M device (real board over serial, or QEMU) speaking our protocol."""

    def __init__(self, device, target: Target, transport: str, cycle_log=None) -> None:
        self.device = device
        info = device.info()
        self.transport = transport
        self.unit = info.clock_unit
        hz = info.clock_hz or target.clock_hz
        self.ms_per_tick = 1e3 / hz if self.unit == "cycles" and hz else None
        self.target = target
        self.cycle_log = cycle_log   # device.cycles.CycleLog in emulation with a cycle table
        self.cycle_runs: list = []   # one device.cycles.RunEstimate per run()

    def run(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        y, t = self.device.run(x)
        if self.cycle_log is not None:
            from edgemobilenet.device.cycles import split_run

            marks = self.cycle_log.read()[0]
            self.cycle_runs.append(split_run(marks, self.device.info().num_layers))
        return y, t

    def _skip_cycle_reports(self) -> None:
        """Clock reads outside run() (batch runs) are not estimates of a run."""
        if self.cycle_log is not None:
            self.cycle_log.read()

    def layer_profile(self) -> list[int]:
        return self.device.layer_profile()

    def outputs(self, xs: np.ndarray, progress: Callable[[int], None] | None = None,
                chunk: int = 256) -> np.ndarray:
        """All outputs: semihosting batches in emulation, else one run per input."""
        out = []
        bulk = self.device.info().semihosting
        step = chunk if bulk else 1
        for i in range(0, len(xs), step):
            if bulk:
                out.append(self.device.batch(xs[i:i + step])[0])
            else:
                out.append(self.device.run(xs[i])[0][None])
            if progress:
                progress(min(i + step, len(xs)))
        self._skip_cycle_reports()
        return np.concatenate(out) if out else np.zeros((0,), np.int8)

    def run_postprocessed(self, x: np.ndarray) -> tuple[np.ndarray, bytes]:
        """One run and the device's post-processing of it (detectors, segmenters)."""
        y, _ = self.device.run(x)
        post = self.device.get_postprocessed()
        self._skip_cycle_reports()
        return y, post

    def layer_output(self, x: np.ndarray, layer: int) -> np.ndarray:
        self.device.set_input(x)
        y = self.device.get_tensor(layer)
        self._skip_cycle_reports()
        return y

    def stack_high_water(self) -> int:
        return self.device.stack_high_water()


@contextlib.contextmanager
def open_mcu_runner(build: Build, port: str | None = None, baud: int | None = None,
                    timeout: float = 5.0) -> Iterator[McuRunner]:
    """A serial port when given, else the build's ELF in QEMU (killed when the block ends).
    `timeout`: seconds to wait for each reply (before retrying)."""
    from edgemobilenet.device.transport import open_device

    target = load_target(build.manifest["target"])
    if port is None and build.elf is None:
        raise EdgembError(f"{build.path}: no firmware.elf to emulate")
    if port is None and target.qemu is None:
        raise EdgembError(f"{target.name}: not an emulated target; give --port of the board")
    from edgemobilenet.device import cycles

    transport = f"serial {port}" if port else f"qemu {target.qemu.machine}"
    with tempfile.TemporaryDirectory(prefix="edgemb-cycles-") as tmp:
        log, args = None, ()
        if port is None and target.qemu.cycle_table:   # estimated cycles in emulation
            out = Path(tmp) / "cycles.txt"
            args = tuple(cycles.qemu_args(target.qemu.cycle_table, out,
                                          cycles.symbol_address(build.elf)))
            log = cycles.CycleLog(out)
        with open_device(target, elf=build.elf, port=port, baud=baud, qemu_args=args,
                         expected_hash=build.manifest["model_hash"], timeout=timeout) as dev:
            yield McuRunner(dev, target, transport, log)


# ---- data --------------------------------------------------------------------------------

@dataclass
class Images:
    """Quantized inputs (N, H, W, C) int8, labels (N,), and the float dataset they came from
    (a bench_dense.DenseData for detection / segmentation builds, labels unused)."""

    x: np.ndarray
    labels: np.ndarray
    dataset: Any

    @property
    def dense(self) -> bool:
        from edgemobilenet.bench_dense import DenseData

        return isinstance(self.dataset, DenseData)


def load_images(build: Build, data: str, limit: int | None, seed: int = 0) -> Images:
    """DATA as `edgemb eval` takes it, preprocessed as the model was trained, quantized."""
    import torch

    from edgemobilenet.data import default_preprocess, open_dataset
    from edgemobilenet.data.tensors import limit_dataset
    from edgemobilenet.quant.convert import quantize_input

    shape = build.input_shape
    if len(shape) != 4:
        raise EdgembError(f"{build.path}: model input {shape} is not an image (1, H, W, C)")
    from edgemobilenet import bench_dense
    if bench_dense.dense_spec(build) is not None:      # detection / segmentation data
        x, dense = bench_dense.load_dense(build, data, limit)
        return Images(x, np.zeros(len(x), np.int64), dense)
    _, h, w, c = shape
    pre = build.graph.meta.get("preprocess") or default_preprocess(data, h)
    ds = limit_dataset(open_dataset(data, train=False, preprocess=dict(pre), in_channels=c),
                       limit, seed)
    if len(ds) == 0:
        raise EdgembError(f"{data}: the dataset is empty")
    first = ds[0][0]
    if tuple(first.shape) != (c, h, w):
        raise EdgembError(f"{data}: images are {'x'.join(map(str, first.shape))} (CxHxW) after "
                          f"preprocessing, the model takes {c}x{h}x{w}")
    from edgemobilenet.train import batches
    xs, ys = [], []
    for x, y in batches(ds, 256, shuffle=False):
        if tuple(x.shape[1:]) != (c, h, w):
            raise EdgembError(f"{data}: an image is {'x'.join(map(str, x.shape[1:]))} after "
                              f"preprocessing, the model takes {c}x{h}x{w}")
        xs.append(quantize_input(build.graph, x))
        ys.append(torch.as_tensor(y).numpy())
    return Images(np.concatenate(xs), np.concatenate(ys).astype(np.int64), ds)


def random_inputs(build: Build, n: int, seed: int = 0) -> np.ndarray:
    """n random int8 inputs (N, H, W, C), the same for the same seed."""
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, (n, *build.input_shape[1:]), dtype=np.int8)


def reference_outputs(g: QGraph, xs: np.ndarray,
                      progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The numpy reference executor's int8 output for each input."""
    out = []
    for i in range(len(xs)):
        out.append(reference.run(g, xs[i:i + 1])[g.outputs[0]].reshape(-1))
        if progress:
            progress(i + 1)
    return np.stack(out) if out else np.zeros((0, 0), np.int8)


def float_accuracy(build: Build, images: Images) -> tuple[dict[str, float] | None, str | None]:
    """Top-1/top-5 of the float model the build was quantized from, if it can be loaded:
    ({"top1", "top5"}, None), else (None, why not). Detection / segmentation builds: the
    float model's raw outputs instead (bench_dense.float_outputs)."""
    if images.dense:
        from edgemobilenet.bench_dense import float_outputs
        return float_outputs(build, images.dataset)
    meta = build.graph.meta
    source = meta.get("source")
    if not source:
        return None, "float accuracy omitted: the QGraph does not name its float model"
    if str(source).endswith("(random init)"):
        return None, f"float accuracy omitted: the float model was '{source}'"
    from edgemobilenet.evaluate import evaluate
    from edgemobilenet.quant.sources import load_float_model

    opts = meta.get("options") or {}
    try:
        fm = load_float_model(str(source), arch=None if str(source).endswith(".onnx") else
                              meta.get("arch"), **{k: opts.get(k) for k in
                                                   ("width", "num_classes", "in_channels")},
                              resolution=opts.get("resolution"))
    except EdgembError as e:
        return None, f"float accuracy omitted: cannot load the float model ({e})"
    res = evaluate(images.dataset, graph=fm.graph)
    return res["float"], None


def _topk(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    from edgemobilenet.evaluate import _topk_hits

    return _topk_hits(scores.astype(np.float64), labels, k) / max(len(labels), 1)


# ---- the measurement ---------------------------------------------------------------------

def _stat(v: list[int]) -> dict[str, int]:
    a = np.asarray(v, dtype=np.float64)
    return {"median": int(round(float(np.median(a)))),
            "p90": int(round(float(np.percentile(a, 90)))),
            "min": int(a.min()), "max": int(a.max())}


def arena_timeline(manifest: dict[str, Any]) -> dict[str, Any]:
    """The arena plan's buffers (offset, size, lifetime: layer outputs, the input, in-place
    scratch, patch copies) and live bytes per layer, with the layer-by-layer plan as
    `before` when the build's plan differs from it; empty for builds without an arena
    (Linux)."""
    plans = manifest.get("arena_plans")
    if not plans:
        return {}
    chosen, before = plans["chosen"], plans["layer_by_layer"]
    out = {"buffers": chosen["buffers"], "live_bytes": chosen["live_bytes"]}
    if before["arena_bytes"] != chosen["arena_bytes"]:
        out["before"] = before
    return out


def run_bench(build: Build, runner: Runner, *, images: Images | None = None, repeat: int = 10,
              seed: int = 0, float_acc: tuple[dict | None, str | None] | None = None,
              progress: Progress | None = None) -> dict[str, Any]:
    """Latency over `repeat` runs (the first images, or random inputs without data), accuracy
    on `images`, memory. `float_acc` is float_accuracy()'s result (computed here if None and
    images are given). Returns the bench document (see the module doc)."""
    if repeat < 1:
        raise EdgembError(f"--repeat must be >= 1, got {repeat}")
    g, man = build.graph, build.manifest
    say = progress or (lambda *_: None)
    lat_x = (images.x[np.arange(repeat) % len(images.x)] if images is not None
             else random_inputs(build, repeat, seed))
    # host-side work first, so a bad model or dataset fails before the device is busy
    lat_ref = reference_outputs(g, lat_x)
    acc: dict[str, Any] = {"images": 0, "notes": []}
    ref = None
    dense = images is not None and images.dense
    if images is not None:
        n = len(images.x)
        ref = reference_outputs(g, images.x, lambda k: say("reference", k, n))
        acc["images"] = n
        fa, note = float_acc if float_acc is not None else float_accuracy(build, images)
        if note:
            acc["notes"].append(note)
        if not dense:
            acc.update(int8_top1=_topk(ref, images.labels, 1),
                       int8_top5=_topk(ref, images.labels, 5),
                       float_top1=fa["top1"] if fa else None,
                       float_top5=fa["top5"] if fa else None)

    ticks, layer_ticks, lat_out = [], [], []
    for i in range(repeat):
        y, t = runner.run(lat_x[i])
        ticks.append(t)
        lat_out.append(np.asarray(y).reshape(-1))
        if (prof := runner.layer_profile()) is not None:
            layer_ticks.append(prof)
        say("latency", i + 1, repeat)
    compared = [(lat_x[i], lat_out[i], lat_ref[i]) for i in range(repeat)]
    samples = None
    if dense:
        from edgemobilenet import bench_dense
        n = len(images.x)
        dev, post, where = bench_dense.device_results(build, runner, images.x,
                                                      lambda k: say("accuracy", k, n))
        dense_acc, samples = bench_dense.accuracy(build, images.dataset, ref, post, fa)
        acc.update(dense=dense_acc, postprocess_on=where)
        compared += [(images.x[i], dev[i], ref[i]) for i in range(n)]
    elif images is not None:
        n = len(images.x)
        dev = runner.outputs(images.x, lambda k: say("accuracy", k, n)).reshape(n, -1)
        acc.update(device_top1=_topk(dev, images.labels, 1),
                   device_top5=_topk(dev, images.labels, 5))
        compared += [(images.x[i], dev[i], ref[i]) for i in range(n)]
    matches = [bool(np.array_equal(d, r)) for _, d, r in compared]
    acc.update(reference_match=sum(matches) / len(matches), compared=len(matches),
               first_mismatch=None)
    if not all(matches) and not getattr(runner, "has_layer_outputs", True):
        acc["first_mismatch"] = {"input": matches.index(False), "text": "the device returns "
                                 "only the final output: the first differing layer is unknown"}
    elif not all(matches):
        k = matches.index(False)
        bad = first_mismatch(g, compared[k][0][None], lambda i: runner.layer_output(
            compared[k][0], i))
        acc["first_mismatch"] = {"input": k, "text": str(bad) if bad else
                                 "only the final output differs", **(bad.__dict__ if bad
                                                                     else {})}

    label = getattr(runner, "unit_label", None) or (
        INSTRUCTIONS_LABEL if runner.unit == "instructions" else runner.unit)
    lat: dict[str, Any] = {"unit": runner.unit, "runs": repeat, "unit_label": label,
                           **_stat(ticks), "ms_median": None,
                           **getattr(runner, "latency_info", {}), "notes": []}
    if getattr(runner, "cycle_runs", None):
        lat["estimate"] = cycle_estimate(runner.cycle_runs, runner.target,
                                         runner.cycle_log.classes)
    if runner.ms_per_tick:
        s = _stat(ticks)
        lat.update({f"ms_{k}": v * runner.ms_per_tick for k, v in s.items()})
        if runner.unit == "cycles":
            lat["clock_hz"] = round(1e3 / runner.ms_per_tick)
    if layer_ticks:
        med = np.median(np.asarray(layer_ticks, dtype=np.float64), axis=0)
        total = float(med.sum()) or 1.0
        rows = {r["index"]: r for r in man["layers"]} if "layers" in man else {
            i: {"name": f"{k['name']} (x{k['calls']})", "op": k.get("op", "kernel"),
                "macs": k.get("macs", 0) * k["calls"]}
            for i, k in enumerate(man.get("kernels", []))}
        lat["layers"] = [{"index": i, "name": rows.get(i, {}).get("name", str(i)),
                          "op": rows.get(i, {}).get("op", "?"),
                          "macs": rows.get(i, {}).get("macs", 0),
                          "median": int(round(float(m))), "share": float(m) / total}
                         for i, m in enumerate(med)]
        if est := lat.get("estimate"):
            for row, e in zip(lat["layers"], est["layer_cycles"]):
                row.update(est_cycles=e[0], est_cycles_low=e[1], est_cycles_high=e[2])
        lat["layers_total"] = int(round(total))
        lat["breakdown"] = "kernel" if "layers" not in man else "layer"
        if build.is_linux:
            lat["notes"].append("per kernel, not per layer: the Relax VM runs fused TVM "
                                "kernels; each is timed alone on the board (zero inputs), "
                                "so the sum leaves out the VM's own overhead")
    elif build.is_linux:
        lat["notes"].append("no per-layer breakdown: the Relax VM runs the model as fused "
                            "functions; the total is timed on the board with time_evaluator")
    lat.get("estimate", {}).pop("layer_cycles", None)
    memory = {k: man.get(k) for k in ("flash_bytes", "sram_bytes", "bulk_bytes", "arena_bytes",
                                      "arena_lower_bound", "stack_bytes", "flash_budget",
                                      "sram_budget")}
    memory["stack_high_water"] = runner.stack_high_water()
    memory["notes"] = []
    if man.get("patch"):   # backends/mcu/patch.py
        pt = man["patch"]
        memory["notes"].append(
            f"layers 0..{pt['join_index']} run in a {pt['grid'][0]} x {pt['grid'][1]} grid of "
            f"patches joined at '{pt['join_layer']}' ("
            f"{'rows cached down each column' if pt.get('cached_rows') else 'halos recomputed'}"
            f"; layer by layer the arena would be "
            f"{man['arena_layer_by_layer']:,} B); the per-layer figures of layer "
            f"{pt['join_index']} hold the whole patched stage, the layers before it show 0")
    if build.is_linux:
        memory["library_bytes"] = man.get("library_bytes")
        memory["notes"].append("flash, SRAM, arena and stack: n/a on Linux (the TVM runtime "
                               "allocates activations from the heap); the .so holds code and "
                               "weights")
    doc = {"target": man["target"], "build": str(build.path), "model_hash": man["model_hash"],
           "transport": runner.transport, "macs": man["macs"] if "macs" in man else graph_macs(g),
           "latency": lat, "accuracy": acc, "memory": memory,
           "arena": arena_timeline(man)}
    if samples is not None:
        doc["samples"] = samples     # arrays, for the HTML report (not JSON)
    return doc


ESTIMATE_LABEL = ("estimated cycles: the executed instructions (exact, QEMU) priced with "
                  "the core's TRM cycle table (qemu_plugins/CORTEX_M_CYCLES.md: zero-wait "
                  "memory, no caches); a model, not a measurement")


def cycle_estimate(runs: list, target: Target, classes: list[str]) -> dict[str, Any]:
    """Median estimate over runs (by the estimate), its low-high range, ms at the target's
    clock, the instruction mix of that run and per-layer (est, low, high) cycles."""
    order = sorted(range(len(runs)), key=lambda i: runs[i].total.est)
    r = runs[order[len(order) // 2]]
    hz = target.clock_hz
    t = r.total
    return {"label": ESTIMATE_LABEL, "cpu": target.cpu, "clock_hz": hz,
            "cycles": t.est, "cycles_low": t.low, "cycles_high": t.high,
            "ms": 1e3 * t.est / hz, "ms_low": 1e3 * t.low / hz, "ms_high": 1e3 * t.high / hz,
            "instructions": t.instructions, "taken_branches": t.taken,
            "instruction_mix": dict(zip(classes, t.classes)),
            "layer_cycles": [(x.est, x.low, x.high) for x in r.layers]}


def graph_macs(g: QGraph) -> int:
    """Multiply-accumulates of one inference (convolutions and fully connected layers)."""
    total = 0
    for node in g.nodes:
        if node.op in ("conv2d", "fully_connected"):
            out = g.tensors[node.outputs[0]].shape
            total += int(np.prod(out)) * int(np.prod(node.params["weight"].shape[1:]))
    return total


@contextlib.contextmanager
def open_runner(build: Build, port: str | None = None, baud: int | None = None,
                emulate: bool = False, rpc: str | None = None, tracker: str | None = None,
                key: str | None = None, timeout: float = 5.0,
                status: Callable[[str], None] | None = None) -> Iterator[Runner]:
    """The one transport chosen (serial port, QEMU, TVM RPC server or tracker, emulated Pi)
    as a Runner. `status` hears about slow set-up (preparing the emulated Pi)."""
    chosen = [n for n, v in (("--port", port), ("--emulate", emulate), ("--rpc", rpc),
                             ("--tracker", tracker)) if v]
    if len(chosen) != 1:
        raise EdgembError("bench: give exactly one of --port, --emulate, --rpc, --tracker"
                          + (f" (got {' and '.join(chosen)})" if chosen else ""))
    if tracker and not key:
        raise EdgembError("bench: --tracker needs --key (the device key registered with it)")
    if build.is_linux:
        if port:
            raise EdgembError(f"{build.path}: a Linux (TVM) build runs over TVM RPC: give "
                              "--rpc, --tracker or --emulate, not --port")
        from edgemobilenet.backends.tvm.linux_target import linux_target
        from edgemobilenet.device.rpc_runner import open_rpc_runner
        with open_rpc_runner(build.path, linux_target(build.manifest["target"]), rpc=rpc,
                             tracker=tracker, key=key, emulate=emulate,
                             progress=status) as r:
            yield r
        return
    if rpc or tracker:
        raise EdgembError(f"{build.path}: an MCU build ({build.manifest['target']}) runs over "
                          "serial or in QEMU: give --port or --emulate, not --rpc/--tracker")
    with open_mcu_runner(build, port=port, baud=baud, timeout=timeout) as r:
        yield r


def measure(build_dir: str | Path, *, port: str | None = None, baud: int | None = None,
            emulate: bool = False, rpc: str | None = None, tracker: str | None = None,
            key: str | None = None, data: str | None = None, limit: int | None = None,
            repeat: int = 10, seed: int = 0, timeout: float = 5.0,
            progress: Progress | None = None,
            status: Callable[[str], None] | None = None,
            count_instructions: bool = False) -> dict[str, Any]:
    """Everything `edgemb bench` measures: load the build and data (errors before any device
    is touched), then run on the chosen transport. `count_instructions` (a Linux build with
    `emulate`): also instructions per inference on the emulated core (`device.pi_count`)."""
    if limit is not None and limit < 1:
        raise EdgembError(f"--limit must be >= 1, got {limit}")
    if repeat < 1:
        raise EdgembError(f"--repeat must be >= 1, got {repeat}")
    build = load_build(build_dir)
    images = load_images(build, data, limit, seed) if data else None
    float_acc = float_accuracy(build, images) if images is not None else None
    with open_runner(build, port, baud, emulate, rpc, tracker, key, timeout, status) as runner:
        doc = run_bench(build, runner, images=images, repeat=repeat, seed=seed,
                        float_acc=float_acc, progress=progress)
    if count_instructions and emulate and build.is_linux:
        doc["latency"]["instructions"] = emulated_instructions(build, doc["macs"], status)
    return doc


def emulated_instructions(build: Build, macs: int,
                          status: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Instructions per inference of a Linux build on its target's emulated core (one
    thread, counted by the QEMU plugin; not cycles, not Pi time)."""
    from edgemobilenet.backends.tvm.linux_target import linux_target
    from edgemobilenet.device.pi_count import LABEL, count_build

    lt = linux_target(build.manifest["target"])
    if not lt.qemu_cpu:
        raise EdgembError(f"target '{lt.name}': no [qemu] cpu, it cannot be emulated")
    if status:
        status(f"counting instructions per inference under qemu-aarch64 -cpu {lt.qemu_cpu} "
               f"(one thread; about 1 min)")
    c = count_build(build.path, lt.qemu_cpu)
    return {"per_inference": int(round(c.per_inference)), "cpu": lt.qemu_cpu, "threads": 1,
            "per_mac": c.per_inference / macs if macs else None, "label": LABEL}
