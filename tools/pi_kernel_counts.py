"""Instructions per kernel of an `edgemb compile --target rpi*` build on its emulated core:
each kernel of `kernels.so` (the manifest's kernel table) run alone between two markers
(`icount_runner.CountingWorker`, one thread, zero arguments: integer kernels have no
data-dependent branches), times its calls per inference, summed per kernel kind
(`kernel_profile.kernel_ops`, e.g. depthwise+requant+prep). Instructions, not cycles.

    .venv/bin/python tools/pi_kernel_counts.py BUILD [--cpu cortex-a72] [-o counts.json]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgemobilenet.backends.tvm.icount_runner import CountingWorker
from edgemobilenet.backends.tvm.linux_target import linux_target


def kind(op: str) -> str:
    """The README's kernel kinds: convolutions, depthwise, padding, the rest."""
    first = op.split("+")[0]
    return {"conv_packed": "convolutions (packed)", "depthwise": "depthwise (+epilogue)",
            "pad": "separate padding", "prep": "separate input preparation"}.get(first, "other")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--cpu", help="QEMU -cpu (default: the build target's core)")
    ap.add_argument("-o", "--output")
    a = ap.parse_args()
    build = Path(a.build).resolve()
    manifest = json.loads((build / "manifest.json").read_text())
    cpu = a.cpu or linux_target(manifest["target"]).qemu_cpu
    worker = CountingWorker(cpu, timeout_sec=600)
    rows, kinds = [], {}
    try:
        for k in manifest["kernels"]:
            n = worker.measure(str(build / manifest["kernel_library"]), k["args"], k["name"])
            rows.append({**{f: k[f] for f in ("name", "op", "calls", "macs")},
                         "instructions": n, "total": n * k["calls"]})
            kk = kinds.setdefault(kind(k["op"]), {"instructions": 0, "macs": 0, "kernels": 0})
            kk["instructions"] += n * k["calls"]
            kk["macs"] += k["macs"] * k["calls"]
            kk["kernels"] += k["calls"]
            print(f"{k['name']:50s} x{k['calls']} {n:>12,d}", flush=True)
    finally:
        worker.close()
    total = sum(r["total"] for r in rows)
    print(f"\n{cpu}, {build}: kernels alone, per inference")
    for name, kk in sorted(kinds.items()):
        per_mac = f" ({kk['instructions'] / kk['macs']:.3f}/MAC)" if kk["macs"] else ""
        print(f"  {name:32s} {kk['kernels']:3d} calls {kk['instructions'] / 1e6:8.2f} M{per_mac}")
    print(f"  {'sum':32s}           {total / 1e6:8.2f} M")
    if a.output:
        Path(a.output).write_text(json.dumps({"cpu": cpu, "build": str(build), "kernels": rows,
                                              "kinds": kinds, "total": total}, indent=1))


if __name__ == "__main__":
    main()
