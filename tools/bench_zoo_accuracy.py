"""Train every zoo architecture on Fashion-MNIST with `edgemb train`, then measure float vs
int8 PTQ top-1 on the 10k test set with `edgemb eval --int8` (JSON out).

Long (minutes per architecture): a benchmark, never a test. Checkpoints are kept in --work
and reused, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ARCHS = ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
         "mnasnet_a1", "mnasnet_b1"]
EDGEMB = str(Path(sys.executable).with_name("edgemb"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--archs", nargs="*", default=ARCHS)
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=0.1,
                    help="peak learning rate (MnasNet diverged at 0.1 here; 0.02 trains)")
    ap.add_argument("--method", default="percentile")
    ap.add_argument("--work", default="build/zoo-fashion")
    ap.add_argument("--out", default="build/bench_zoo_accuracy.json")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for arch in args.archs:
        ckpt = work / f"{arch}.pt"
        t0 = time.time()
        if not ckpt.exists():
            subprocess.run([EDGEMB, "train", arch, "--data", "fashion-mnist", "--width",
                            str(args.width), "--resolution", "32", "--in-channels", "1",
                            "--epochs", str(args.epochs), "--threads", str(args.threads),
                            "--lr", str(args.lr),
                            "-o", str(ckpt)], check=True)
        train_s = time.time() - t0
        r = subprocess.run([EDGEMB, "eval", str(ckpt), "--data", "fashion-mnist", "--int8",
                            "--calib", "fashion-mnist", "--method", args.method, "--json"],
                           check=True, capture_output=True, text=True)
        res = json.loads(r.stdout)
        row = {"arch": arch, "width": args.width, "resolution": 32, "epochs": args.epochs,
               "lr": args.lr,
               "train_seconds": round(train_s, 1), "float_top1": res["float"]["top1"],
               "int8_top1": res["int8"]["top1"], "agreement": res["agreement"],
               "int8_minus_float_points": round(100 * (res["int8"]["top1"]
                                                       - res["float"]["top1"]), 2)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = Path(args.out)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"method": args.method, "results": rows}, indent=1))
    tmp.replace(out)


if __name__ == "__main__":
    main()
