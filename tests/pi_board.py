"""The emulated Raspberry Pi 4 shared by the tests: one TVM RPC server under qemu-aarch64
(direct connections, 2 threads), started on first use and stopped at exit. A start costs
about 15-30 s (`import tvm` emulated); the first run on a machine also prepares the aarch64
root (~40 MB download, 1-2 min, cached under ~/.cache/edgemb)."""
from __future__ import annotations

import atexit
from functools import lru_cache

from edgemobilenet.backends.tvm.linux_target import linux_target
from edgemobilenet.device.pi_emulator import EmulatedBoard, prepare_root, start_board


@lru_cache(maxsize=None)
def direct_board() -> EmulatedBoard:
    """The running board (the same one for the whole test session)."""
    prepare_root()
    board = start_board(linux_target("rpi4").qemu_cpu, threads=2)
    atexit.register(board.stop)
    return board
