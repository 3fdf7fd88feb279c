"""`edgemb demo`: the whole path on one machine. The default model (MobileNetV2 trained on
Fashion-MNIST) is quantized with calibration on Fashion-MNIST train images, compiled for
emulated Cortex-M targets, and benchmarked in QEMU on Fashion-MNIST test images; the figures
are exactly those `edgemb bench BUILD --emulate --data fashion-mnist --limit N` gives."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from edgemobilenet import bench
from edgemobilenet.report import write_report

DATA = "fashion-mnist"
TARGETS = ("mps2-an386",)


def run_demo(out_dir: str | Path = Path("build") / "demo", *, model: str = "default",
             targets: tuple[str, ...] = TARGETS, limit: int = 200, calib_count: int = 256,
             repeat: int = 5, step: Callable[[str], None] | None = None,
             progress: bench.Progress | None = None) -> dict[str, Any]:
    """Quantize, compile and bench `model` on each target. Writes OUT/<target>/ builds and an
    HTML report per target (OUT/report.html is the first target's). Returns
    {"model", "quantization", "results": [bench documents], "reports": [paths]}."""
    from edgemobilenet.backends.mcu.build import compile_model
    from edgemobilenet.model_source import ModelOptions, load_qgraph
    from edgemobilenet.targets import load_target

    say = step or (lambda _: None)
    out = Path(out_dir)
    say(f"quantizing {model} (calibration: {calib_count} {DATA} train images)")
    g = load_qgraph(model, ModelOptions(calib=DATA, calib_count=calib_count))
    results, reports = [], []
    for i, name in enumerate(targets):
        target = load_target(name)
        build_dir = out / target.name
        say(f"compiling for {target.name}")
        compile_model(g, target, build_dir)
        say(f"benchmarking on {target.name} in QEMU ({limit} {DATA} test images)")
        doc = bench.measure(build_dir, emulate=True, data=DATA, limit=limit, repeat=repeat,
                            progress=progress)
        results.append(doc)
        reports.append(write_report(build_dir / "report.html", doc))
        if i == 0:
            reports.insert(0, write_report(out / "report.html", doc))
    return {"model": model, "quantization": {k: g.meta.get(k) for k in ("method",
                                                                        "calibration")},
            "results": results, "reports": [str(p) for p in reports]}
