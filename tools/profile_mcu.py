#!/usr/bin/env python3
"""Per-function instruction profile of Cortex-M kernels in QEMU (instructions, not cycles).

Runs layers of a model (a .qgraph and one int8 input, e.g. from tools/trained_models.py) on
the kernel test driver in qemu-system-arm with the `tb_profile` TCG plugin
(qemu_plugins/tb_profile.c: how often each guest instruction ran), then maps the addresses
to the driver's functions (arm-none-eabi-nm) and prints, per layer, the instructions per
function and, with --annotate N, the N hottest instructions with their disassembly
(arm-none-eabi-objdump). Static inline helpers are counted in the function they were
inlined into: the annotation shows where inside it. Every output is checked against the
numpy reference.

    .venv/bin/python tools/profile_mcu.py build/trained/v1_025_96_fmnist.qgraph \
        --layer features.1.1.0 --variant dsp --machine mps2-an386 --annotate 40
"""
from __future__ import annotations

import argparse
import bisect
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from edgemobilenet.backends.mcu import kernel_check as kc
from edgemobilenet.device.insn_count import plugin_path
from edgemobilenet.quant import qgraph
from edgemobilenet.quant.reference import apply, run

MACHINES = {"dsp": "mps2-an386", "mve": "mps3-an547", "portable": "mps2-an386"}


def read_profile(path: Path) -> Counter:
    """Executions per instruction address from tb_profile's output."""
    counts: Counter = Counter()
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "tb":
            n = int(parts[1])
            for a in parts[2:]:
                counts[int(a, 16)] += n
    return counts


def symbols(elf: Path) -> tuple[list[int], list[str]]:
    """Text symbols of the ELF, sorted by address (Thumb bit cleared)."""
    r = subprocess.run(["arm-none-eabi-nm", "-n", "--defined-only", str(elf)],
                       capture_output=True, text=True, check=True, timeout=60)
    addrs, names = [], []
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTW":
            addrs.append(int(parts[0], 16) & ~1)
            names.append(parts[2])
    return addrs, names


def disassembly(elf: Path) -> dict[int, str]:
    r = subprocess.run(["arm-none-eabi-objdump", "-d", "--no-show-raw-insn", str(elf)],
                       capture_output=True, text=True, check=True, timeout=120)
    out = {}
    for line in r.stdout.splitlines():
        head, sep, text = line.partition(":\t")
        if sep and head.strip() and all(c in "0123456789abcdef" for c in head.strip()):
            out[int(head.strip(), 16)] = " ".join(text.split())
    return out


def by_function(counts: Counter, addrs: list[int], names: list[str]) -> Counter:
    funcs: Counter = Counter()
    for a, n in counts.items():
        i = bisect.bisect_right(addrs, a) - 1
        funcs[names[i] if i >= 0 else "?"] += n
    return funcs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="a .qgraph")
    ap.add_argument("--input", type=Path, help="int8 NHWC input .npy (default: MODEL's "
                    "stem + .input.npy, as tools/trained_models.py writes)")
    ap.add_argument("--layer", action="append", help="layer (node) name; repeatable; "
                    "default every layer")
    ap.add_argument("--variant", choices=list(MACHINES), default="dsp")
    ap.add_argument("--machine", help="QEMU machine (default: mps2-an386 for dsp / "
                    "portable, mps3-an547 for mve)")
    ap.add_argument("--annotate", type=int, default=0, metavar="N",
                    help="also print the N most executed instructions per layer (in "
                    "address order)")
    args = ap.parse_args()
    machine = args.machine or MACHINES[args.variant]
    g = qgraph.load(args.model)
    x_path = args.input or args.model.with_suffix(".input.npy")
    x = np.load(x_path, allow_pickle=False)
    acts = run(g, x, keep_all=True)
    nodes = [n for n in g.nodes if n.op != "reshape" and (not args.layer or n.name in args.layer)]
    missing = set(args.layer or []) - {n.name for n in nodes}
    if missing:
        print(f"{args.model}: no layer {sorted(missing)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="profile_mcu_") as tmp:
        tmp_dir = Path(tmp)
        driver = kc.build_qemu(args.variant, machine, tmp_dir)
        addrs, names = symbols(driver.path)
        dis = disassembly(driver.path) if args.annotate else {}
        for node in nodes:
            it = [g.tensors[t] for t in node.inputs]
            ot = g.tensors[node.outputs[0]]
            xs = [acts[t] for t in node.inputs]
            call = kc.case_from_node(node, it, ot, xs, args.variant)
            prof = tmp_dir / "profile.txt"
            r = kc.run(driver, [call], timeout=600,
                       qemu_args=("-plugin", f"{plugin_path('tb_profile')},out={prof}"))[0]
            exact = np.array_equal(r.output, apply(node, xs, it, ot))
            counts = read_profile(prof)
            funcs = by_function(counts, addrs, names)
            print(f"== {node.name} ({node.op}) on {machine} ({args.variant}): "
                  f"{r.instructions} instructions in the kernel call, "
                  f"{'bit-exact' if exact else 'DIFFERS from the reference'}")
            total = sum(funcs.values())
            for name, n in funcs.most_common():
                if n * 200 < total:
                    break
                print(f"  {n:12d} {100 * n / total:5.1f} %  {name}")
            for a, n in sorted(counts.most_common(args.annotate)):   # in address order
                i = bisect.bisect_right(addrs, a) - 1
                print(f"    {a:08x} {n:10d}  {names[i] if i >= 0 else '?'}: {dis.get(a, '?')}")
            if not exact:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
