"""`edgemb demo`: the whole path on one machine. The default model (MobileNetV2 trained on
Fashion-MNIST) is quantized with calibration on Fashion-MNIST train images, compiled for
emulated Cortex-M targets, and benchmarked in QEMU on Fashion-MNIST test images; the figures
are exactly those `edgemb bench BUILD --emulate --data fashion-mnist --limit N` gives.
With `pi`, the same QGraph is also compiled with TVM for the Raspberry Pi 4 and benched on
the emulated Pi (a TVM RPC server under qemu-aarch64), one more row of results."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from edgemobilenet import bench
from edgemobilenet.report import write_report

DATA = "fashion-mnist"
TARGETS = ("mps2-an386",)
PI_TARGET = "rpi4"


def pi_ready() -> bool:
    """The emulated Pi's aarch64 root is prepared (`edgemb board prepare`): no download."""
    from edgemobilenet.device import pi_emulator

    return (pi_emulator.root_dir() / pi_emulator.STAMP).is_file()


def run_demo(out_dir: str | Path = Path("build") / "demo", *, model: str = "default",
             targets: tuple[str, ...] = TARGETS, limit: int = 200, calib_count: int = 256,
             repeat: int = 5, pi: bool = False, step: Callable[[str], None] | None = None,
             progress: bench.Progress | None = None) -> dict[str, Any]:
    """Quantize, compile and bench `model` on each target (and with `pi` on the emulated
    Raspberry Pi 4). Writes OUT/<target>/ builds with an HTML report each, and
    OUT/report.html with every target side by side. Returns
    {"model", "quantization", "results": [bench documents], "reports": [paths]}."""
    from edgemobilenet.backends.mcu.build import compile_model
    from edgemobilenet.model_source import ModelOptions, load_qgraph
    from edgemobilenet.targets import load_target

    say = step or (lambda _: None)
    out = Path(out_dir)
    say(f"quantizing {model} (calibration: {calib_count} {DATA} train images)")
    g = load_qgraph(model, ModelOptions(calib=DATA, calib_count=calib_count))
    results, reports = [], []
    for name in targets:
        target = load_target(name)
        build_dir = out / target.name
        say(f"compiling for {target.name}")
        compile_model(g, target, build_dir)
        say(f"benchmarking on {target.name} in QEMU ({limit} {DATA} test images)")
        doc = bench.measure(build_dir, emulate=True, data=DATA, limit=limit, repeat=repeat,
                            progress=progress)
        results.append(doc)
        reports.append(write_report(build_dir / "report.html", doc))
    if pi:
        from edgemobilenet.backends.tvm import compile_linux

        build_dir = out / PI_TARGET
        say(f"compiling for {PI_TARGET} (TVM, aarch64)")
        compile_linux(g, PI_TARGET, build_dir)
        say(f"benchmarking on the emulated {PI_TARGET} over TVM RPC ({limit} {DATA} test "
            "images)")
        doc = bench.measure(build_dir, emulate=True, data=DATA, limit=limit, repeat=repeat,
                            progress=progress, status=say)
        results.append(doc)
        reports.append(write_report(build_dir / "report.html", doc))
    if results:
        reports.insert(0, write_report(out / "report.html", results))
    return {"model": model, "quantization": {k: g.meta.get(k) for k in ("method",
                                                                        "calibration")},
            "results": results, "reports": [str(p) for p in reports]}
