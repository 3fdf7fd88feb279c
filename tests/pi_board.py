"""The emulated Raspberry Pi 4 shared by the tests: one TVM RPC server under qemu-aarch64
(direct connections, 2 threads), started on first use and stopped at exit. A start costs
about 15-30 s (`import tvm` emulated); the first run on a machine also prepares the aarch64
root (~40 MB download, 1-2 min, cached under ~/.cache/edgemb)."""
from __future__ import annotations

import atexit
from functools import lru_cache
from pathlib import Path

import numpy as np

from edgemobilenet.backends.tvm.export import compile_linux
from edgemobilenet.backends.tvm.linux_target import linux_target
from edgemobilenet.device.pi_count import count_inference
from edgemobilenet.device.pi_emulator import EmulatedBoard, prepare_root, start_board
from edgemobilenet.quant import reference


@lru_cache(maxsize=None)
def direct_board() -> EmulatedBoard:
    """The running board (the same one for the whole test session)."""
    prepare_root()
    board = start_board(linux_target("rpi4").qemu_cpu, threads=2)
    atexit.register(board.stop)
    return board


def assert_bit_exact_on_emulated_core(g, target: str, x: np.ndarray, work: Path,
                                      tune_db=None) -> None:
    """Compile `g` for `target` (with `tune_db`, as `compile_linux` takes it), run it once on
    input `x` on the target's emulated core (the counting run of `pi_count`, no board) and
    compare with the numpy reference."""
    compile_linux(g, target, work / "b", tune_db)
    np.save(work / "x.npy", x)
    c = count_inference("tvm", work / "b" / "model.so", linux_target(target).qemu_cpu,
                        inferences=1, input_spec={"shape": list(x.shape), "dtype": "int8"},
                        input_npy=work / "x.npy")
    want = reference.run(g, x)[g.outputs[0]]
    np.testing.assert_array_equal(np.array(c.output["values"]).reshape(want.shape), want)
