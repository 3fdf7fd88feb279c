"""The TIR fixed-point arithmetic of the TVM kernels (backends/tvm/te_fixedpoint.py) equals
the reference's MBQM (quant/fixedpoint.py) for every int32 input, multiplier and shift,
compiled vectorised for this machine as the kernels are."""
from __future__ import annotations

import numpy as np
import tvm
from tvm import s_tir, te

from edgemobilenet.backends.tvm import te_fixedpoint as tfp
from edgemobilenet.backends.tvm.build import host_target, tvm_target
from edgemobilenet.quant.fixedpoint import INT32_MAX, INT32_MIN, mbqm

LANES = 16


def _cases(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    edge_x = [INT32_MIN, INT32_MIN + 1, -(1 << 30), -3, -2, -1, 0, 1, 2, 3, 1 << 30,
              INT32_MAX - 1, INT32_MAX]
    edge_m = [0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX - 1, INT32_MAX]
    x = [a for a in edge_x for _ in edge_m for _ in range(40)]
    m = [b for _ in edge_x for b in edge_m for _ in range(40)]
    shift = [s for _ in edge_x for _ in edge_m for s in range(-31, 9)]
    n = 20000
    x += list(rng.integers(INT32_MIN, INT32_MAX, n, endpoint=True)) + \
        list(rng.integers(-70000, 70000, n))
    m += list(rng.integers(1 << 30, INT32_MAX, 2 * n, endpoint=True))
    shift += list(rng.integers(-31, 9, 2 * n))
    pad = -len(x) % LANES
    return tuple(np.array(v + v[:pad], dtype=np.int64) for v in (x, m, shift))


def test_mbqm_matches_the_reference_vectorised():
    rng = np.random.default_rng(0)
    x, m, shift = _cases(rng)
    n = x.size
    X = te.placeholder((n,), "int32", name="x")
    P = te.placeholder((n, 6), "int32", name="p")   # qparams columns: bias, m, left, right, half, pos
    Y = te.compute((n,), lambda i: tfp.mbqm(X[i], *(P[i, k] for k in range(1, 6))), name="y")
    sch = s_tir.Schedule(te.create_prim_func([X, P, Y]))
    _, inner = sch.split(sch.get_loops(sch.get_sblock("y"))[0], [None, LANES])
    sch.vectorize(inner)
    f = tvm.compile(sch.mod, target=tvm_target(host_target()))
    table = tfp.qparams(np.zeros(n, dtype=np.int64), m, shift)
    dev = tvm.cpu()
    y = tvm.runtime.tensor(np.zeros(n, dtype=np.int32), dev)
    f(tvm.runtime.tensor(x.astype(np.int32), dev), tvm.runtime.tensor(table, dev), y)
    want = mbqm(x, m, shift)
    bad = np.flatnonzero(y.numpy() != want)
    assert bad.size == 0, [(int(x[i]), int(m[i]), int(shift[i]), int(y.numpy()[i]), int(want[i]))
                           for i in bad[:5]]
