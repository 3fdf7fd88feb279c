"""Detection mAP / segmentation mIoU measured on the emulated Cortex-M, next to the float
model and the int8 reference executor (what `edgemb bench BUILD --emulate --data ...`
reports), plus each build's flash / SRAM on every emulated Cortex-M target. Writes JSON and
the bench HTML report (ground truth next to the device's boxes or class maps).

    python tools/dense_device_eval.py CHECKPOINT --images 100 -o out.json
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from edgemobilenet import bench
from edgemobilenet.model_source import ModelOptions, load_qgraph
from edgemobilenet.pipeline import compile_mcu
from edgemobilenet.report import write_report
from edgemobilenet.targets import load_target

TARGETS = ["mps2-an386", "mps2-an500", "mps3-an547"]
MEMORY = ("flash_bytes", "sram_bytes", "bulk_bytes", "flash_budget", "sram_budget",
          "arena_bytes", "postprocess")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--calib", type=int, default=256)
    ap.add_argument("--run-on", default="mps2-an386")
    ap.add_argument("--targets", nargs="+", default=TARGETS, help="flash/SRAM of these builds")
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    g = load_qgraph(a.model, ModelOptions(calib="fashion-mnist", calib_count=a.calib))
    res: dict = {"model": a.model, "arch": g.meta["arch"], "memory": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in dict.fromkeys([*a.targets, a.run_on]):
            doc = compile_mcu(g, load_target(name), Path(tmp) / name)
            res["memory"][name] = {k: doc.get(k) for k in MEMORY}
            print(name, res["memory"][name], flush=True)
        doc = bench.measure(Path(tmp) / a.run_on, emulate=True, data="fashion-mnist",
                            limit=a.images, repeat=1)
    write_report(Path(a.output).with_suffix(".html"), doc)
    res["bench"] = {k: v for k, v in doc.items() if k not in ("arena", "samples")}
    Path(a.output).write_text(json.dumps(res, indent=1))
    print(json.dumps(res["bench"]["accuracy"], indent=1))


if __name__ == "__main__":
    main()
