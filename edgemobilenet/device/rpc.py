"""Linux boards over TVM RPC: connect (directly or through a tracker), upload a compiled
`.so`, run it with the Relax VM and time it. Moves bytes and measures; computes nothing."""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgemobilenet.cache import log_file
from edgemobilenet.device.tvm_vm import run_vm, time_kernels, zero_kernel_args
from edgemobilenet.errors import EdgembError


CONNECT_TIMEOUT = 120.0   # connect + handshake (an emulated board forks its session slowly)
PR_SET_PDEATHSIG = 1      # <linux/prctl.h>
CALL_TIMEOUT = 900.0      # any one remote call: upload, load, run, time (emulated: slow)


@contextlib.contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Raise EdgembError("<what>: no answer within N s") when the block outlasts `seconds`.

    TVM's RPC client blocks in C++ socket reads, holding the GIL, with no timeout of its
    own. SIGALRM interrupts the read and TVM re-raises the handler's exception (checked
    with TVM 0.27). An alarm already set (an enclosing limit, pytest-timeout) is kept: the
    earlier deadline fires, the other one is re-armed afterwards. Signals reach the main
    thread only: elsewhere the block runs without a limit (MetaSchedule's runners have
    their own, see bounded_runner).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    outer = signal.getsignal(signal.SIGALRM)
    outer_left = signal.getitimer(signal.ITIMER_REAL)[0]
    ours_first = not outer_left or seconds < outer_left
    state = {"active": True}
    start = time.monotonic()

    def expired(signum, frame):
        if not state["active"]:
            return
        if ours_first:
            raise _Expired
        if callable(outer):   # the enclosing deadline came first: its handler decides
            outer(signum, frame)

    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds if ours_first else outer_left)
    try:
        yield
    except _Expired:
        raise EdgembError(f"{what}: no answer within {seconds:.0f} s (stopped waiting)") \
            from None
    finally:
        state["active"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer)
        if outer_left:
            signal.setitimer(signal.ITIMER_REAL,
                             max(outer_left - (time.monotonic() - start), 1e-3))


class _Expired(Exception):
    """The SIGALRM of `time_limit` (internal)."""


def parse_hostport(s: str, what: str) -> tuple[str, int]:
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit():
        raise EdgembError(f"{what} '{s}': expected HOST:PORT")
    return host or "127.0.0.1", int(port)


def connect(rpc: str | None = None, tracker: str | None = None, key: str | None = None,
            timeout: float = CONNECT_TIMEOUT):
    """An RPC session: `rpc` "HOST:PORT" for a server, or `tracker` "HOST:PORT" + `key`.
    Connecting (and the server's handshake) ends within `timeout` s."""
    from tvm import rpc as tvm_rpc

    where = f"tracker {tracker} key '{key}'" if tracker else f"rpc server {rpc}"
    try:
        if tracker:
            h, p = parse_hostport(tracker, "tracker")
            if not key:
                raise EdgembError(f"tracker {tracker}: a device key is needed (--key)")
            with time_limit(timeout, where):
                return tvm_rpc.connect_tracker(h, p).request(key, session_timeout=0,
                                                             max_retry=3)
        if rpc:
            h, p = parse_hostport(rpc, "rpc server")
            with time_limit(timeout, where):
                return tvm_rpc.connect(h, p, session_timeout=0)
    except EdgembError:
        raise
    except Exception as e:  # TVM raises RuntimeError / TVMError on refused connections
        raise EdgembError(f"{where}: cannot connect ({str(e).splitlines()[0][:200]})") from None
    raise EdgembError("rpc: give an RPC server (HOST:PORT) or a tracker and key")


BOARD_WAIT_SEC = 30.0   # how long a starting board gets to register with a tracker


def wait_for_board(host: str, port: int, key: str, wait: float | None = None) -> None:
    """Return once the tracker at host:port has a board with `key`; fail after `wait` s
    (default BOARD_WAIT_SEC) naming the keys it has."""
    from tvm import rpc as tvm_rpc

    deadline = time.monotonic() + (BOARD_WAIT_SEC if wait is None else wait)
    while True:
        try:
            with time_limit(CONNECT_TIMEOUT, f"tracker {host}:{port}"):
                queues = tvm_rpc.connect_tracker(host, port).summary()["queue_info"]
        except EdgembError:
            raise
        except Exception as e:  # TVM raises RuntimeError / TVMError on refused connections
            raise EdgembError(f"tracker {host}:{port}: cannot connect "
                              f"({str(e).splitlines()[0][:200]})") from None
        if key in queues:
            return
        if time.monotonic() >= deadline:
            known = ", ".join(sorted(queues)) or "none"
            raise EdgembError(f"tracker {host}:{port}: no board registered with key '{key}' "
                              f"(keys: {known})")
        time.sleep(0.5)


@dataclass
class RemoteModel:
    """A build directory's `.so` loaded on a board, ready to run."""

    session: Any
    vm: Any
    dev: Any
    outputs: list[str]
    kernels: list[dict[str, Any]] | None = None   # the manifest's kernel table
    kernel_lib: Path | None = None                # kernels.so of the build directory
    timeout: float = CALL_TIMEOUT                 # limit of each remote call (s)
    _kernel_module: Any = None
    _kernel_args: Any = None

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        with time_limit(self.timeout, "board: running the model"):
            return dict(zip(self.outputs, run_vm(self.vm, self.dev, x, len(self.outputs))))

    def time(self, number: int = 10, repeat: int = 3, min_repeat_ms: int = 0) -> list[float]:
        """Seconds per run (one entry per repeat), measured on the board."""
        with time_limit(self.timeout, "board: timing the model"):
            f = self.vm.time_evaluator("invoke_stateful", self.dev, number=number,
                                       repeat=repeat, min_repeat_ms=min_repeat_ms)
            return [float(v) for v in f("main").results]


    def kernel_seconds(self, number: int = 10) -> list[float]:
        """Seconds per call of each kernel of the table, timed on the board."""
        with time_limit(self.timeout, "board: timing the kernels"):
            if self._kernel_module is None:
                self.session.upload(str(self.kernel_lib))
                self._kernel_module = self.session.load_module(self.kernel_lib.name)
                self._kernel_args = zero_kernel_args(self.kernels or [], self.dev)
            return time_kernels(self._kernel_module, self.dev, self.kernels or [],
                                self._kernel_args, number)


def load_build(session, build_dir: str | Path) -> RemoteModel:
    """Upload `model.so` of a build directory (from `compile_linux`) and load it."""
    from tvm import relax

    build_dir = Path(build_dir)
    try:
        manifest = json.loads((build_dir / "manifest.json").read_text())
    except FileNotFoundError:
        raise EdgembError(f"{build_dir}: no manifest.json (not a TVM build directory)") from None
    lib = build_dir / manifest["library"]
    with time_limit(CALL_TIMEOUT, f"board: uploading and loading {lib}"):
        session.upload(str(lib))
        rlib = session.load_module(lib.name)
        dev = session.cpu()
        vm = relax.VirtualMachine(rlib, dev)
    klib = manifest.get("kernel_library")
    return RemoteModel(session, vm, dev, [o["name"] for o in manifest["outputs"]],
                       manifest.get("kernels"), build_dir / klib if klib else None)


def die_with_parent() -> None:
    """`preexec_fn` for a server child: the kernel sends it SIGTERM when the thread that
    started it exits (Linux `PR_SET_PDEATHSIG`; kept across exec), so a parent killed with
    SIGKILL leaves no server behind."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_group(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Terminate a process started with `start_new_session=True` and its whole group:
    SIGTERM, up to `timeout` s for the leader, then SIGKILL to whatever of the group is
    left (members that outlive or ignore SIGTERM, e.g. forked session children)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass


def start_tracker(host: str = "127.0.0.1", port: int = 9190, timeout: float = 60):
    """Start `tvm.exec.rpc_tracker` on this machine; returns the process once it listens.

    The tracker runs in a worker of its own process group: stop it with `stop_group`.
    """
    log = log_file(f"rpc-tracker-{port}.log")
    with open(log, "w") as f:   # a file, not a pipe: nobody reads a pipe, and a full one blocks
        proc = subprocess.Popen([sys.executable, "-m", "tvm.exec.rpc_tracker", "--host", host,
                                 "--port", str(port), "--port-end", str(port + 1)],
                                stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EdgembError(f"rpc tracker {host}:{port} exited: "
                              f"{log.read_text()[-300:]}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.3)
    stop_group(proc)
    raise EdgembError(f"rpc tracker {host}:{port} did not start within {timeout:.0f} s")
