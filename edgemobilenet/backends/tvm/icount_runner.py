"""MetaSchedule runner for Linux (aarch64) targets whose cost is the instruction count on
the target's emulated core: the Cortex-A counterpart of the Cortex-M tuner's `-icount`.

One worker, the emulated Pi's Python under `qemu-aarch64 -cpu <core>` with the counting
plugin (`device/insn_count.py`, guest side `device/pi_guest.py kernels`), loads each
candidate `.so` (cross-compiled by the builder), runs it once to warm up and once between
two markers. The count is reported as seconds (1 instruction = 1 ns), as the Cortex-M
runner does. Counts do not depend on the load of the machine, so tuning on a busy host
ranks candidates as a quiet one would. One thread: the count is the work of one core.
"""
from __future__ import annotations

import json
import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.runner import PyRunner, RunnerFuture, RunnerInput, RunnerResult

from edgemobilenet.device import insn_count, pi_emulator
from edgemobilenet.device.pi_count import GUEST, guest_env
from edgemobilenet.backends.tvm.kernel_args import KernelArgs
from edgemobilenet.backends.tvm.ms_result import Done
from edgemobilenet.errors import EdgembError

START_TIMEOUT = 300.0     # import tvm under emulation with the plugin: 30-60 s, more if busy


class CountingWorker:
    """The emulated Python that runs candidates between markers (started on first use,
    restarted after a candidate that hangs or crashes it)."""

    def __init__(self, cpu: str, timeout_sec: float) -> None:
        self.cpu, self.timeout_sec = cpu, timeout_sec
        self.proc: subprocess.Popen | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix="edgemb-icount-tune-"))
        self.counts = self.tmp / "counts"
        self.next_id = 1

    def _start(self) -> None:
        root = pi_emulator.prepare_root()
        cmd = [*insn_count.qemu_command(self.cpu, self.counts), str(root / pi_emulator.PYTHON),
               str(GUEST), "kernels"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.tmp / "stderr", "wb"), text=True,
                                     env=guest_env(root, self.cpu), start_new_session=True)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)

    def stop(self) -> None:
        """Stop the emulated process (a later `measure` starts another)."""
        if self.proc is not None:
            insn_count._kill_group(self.proc)
            self.sel.close()
            self.proc = None

    def close(self) -> None:
        """Stop the emulated process and remove the worker's directory (counts, stderr)."""
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _reply(self, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not self.sel.select(left):
                break
            line = self.proc.stdout.readline()
            if not line:   # the worker died
                return None
            if line.startswith("{"):
                return json.loads(line)
        return None

    def measure(self, lib: str, args: list, func: str | None = None) -> int:
        """Instructions of one call of the library's entry function, or of `func`, on
        `args` (each a .npy file or [shape, dtype]: zeros; `pi_guest.kernel_arg`)
        (EdgembError if the candidate fails or exceeds the time limit)."""
        first = self.proc is None
        if first:
            self._start()
        rid = self.next_id
        self.next_id += 1
        try:
            req = {"id": rid, "lib": lib, "args": args, **({"func": func} if func else {})}
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.stop()
            raise EdgembError("the emulated worker is gone") from None
        reply = self._reply(self.timeout_sec + (START_TIMEOUT if first else 0))
        if reply is None:
            err = (self.tmp / "stderr").read_text(errors="replace").strip().splitlines()[-1:]
            self.stop()
            raise EdgembError(f"no answer from the emulated {self.cpu} within "
                              f"{self.timeout_sec:.0f} s (worker restarted) {err}")
        if "error" in reply:
            raise EdgembError(reply["error"])
        counts = insn_count.parse(self.counts.read_text()).between(2 * rid, 2 * rid + 1)
        if len(counts) != 1:
            raise EdgembError("the candidate's markers are missing from the count")
        return counts[0]


@derived_object
class EmulatedInsnRunner(PyRunner):
    """Measures candidates on an emulated Cortex-A core by instruction count, each on its
    kernel's arguments from `args` (`kernel_args`: the model's constants), else zeros."""

    def __init__(self, cpu: str, timeout_sec: float = 120.0,
                 args: KernelArgs | None = None) -> None:
        super().__init__()
        self.worker = CountingWorker(cpu, timeout_sec)
        self.args = args
        self.errors: list[str] = []

    def run(self, runner_inputs: list[RunnerInput]) -> list[RunnerFuture]:
        futures = []
        for inp in runner_inputs:
            lib = str(inp.artifact_path)
            try:
                args = (self.args.of(lib) if self.args is not None else None) or \
                    [[[int(d) for d in a.shape], str(a.dtype)] for a in inp.args_info]
                res = RunnerResult([self.worker.measure(lib, args) * 1e-9], None)
            except Exception as e:  # noqa: BLE001 - a failed candidate, not a failed run
                self.errors.append(str(e))
                res = RunnerResult(None, str(e))
            futures.append(Done(res))
        return futures

    def close(self) -> None:
        """Stop the emulated worker and drop the argument files (call when tuning ends, on
        every path)."""
        self.worker.close()
        if self.args is not None:
            self.args.close()
