"""`edgemb board`: TVM RPC servers for Linux boards (real or emulated) and a tracker."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click
from rich.console import Console

from edgemobilenet.backends.tvm.linux_target import linux_target
from edgemobilenet.device import pi_emulator
from edgemobilenet.device.rpc import start_tracker, stop_group
from edgemobilenet.device.tvm_vm import runtime_env
from edgemobilenet.errors import EdgembError


@click.group("board")
def command() -> None:
    """Serve a Linux board over TVM RPC (emulated Raspberry Pi, or this machine)."""


def _sigterm_interrupts() -> None:
    """SIGTERM raises KeyboardInterrupt, so every `finally` that stops a process runs
    (installed before anything is started: a board still starting is stopped too)."""
    def on_term(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)


def _wait(proc: subprocess.Popen, con: Console) -> None:
    """Block until the server exits; Ctrl-C or SIGTERM stop it and its workers."""
    try:
        while proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        con.print("stopping")
    finally:
        stop_group(proc)


@command.command("prepare")
@click.option("--force", is_flag=True, help="Rebuild the aarch64 root even if it exists.")
def prepare(force: bool) -> None:
    """Download and assemble the emulated Pi's aarch64 root (once; cached), with the
    peers measured on it (LiteRT, onnxruntime)."""
    con = Console(stderr=True)
    with con.status("preparing the aarch64 root") as status:
        pi_emulator.prepare_root(lambda m: status.update(m), force=force)
        root = pi_emulator.prepare_peers(lambda m: status.update(m))
    click.echo(str(root))


@command.command("serve")
@click.option("--target", "-t", "target_name", required=True, help="Linux target (rpi4, ...).")
@click.option("--emulate", is_flag=True, help="Run the board under qemu-aarch64.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=None, help="Port (default: the target's rpc.port).")
@click.option("--tracker", default=None, help="Register with a tracker at HOST:PORT.")
@click.option("--key", default=None, help="Tracker key (default: the target's rpc.key).")
def serve(target_name: str, emulate: bool, host: str, port: int | None, tracker: str | None,
          key: str | None) -> None:
    """Run a TVM RPC server for TARGET until interrupted (Ctrl-C)."""
    _sigterm_interrupts()
    t = linux_target(target_name)
    port = port or t.rpc_port
    key = key or t.rpc_key
    con = Console(stderr=True)
    if emulate:
        if not t.qemu_cpu:
            raise EdgembError(f"target '{t.name}': no [qemu] table, it cannot be emulated")
        with con.status("preparing the emulated board") as status:
            board = pi_emulator.start_board(t.qemu_cpu, host=host, port=port, tracker=tracker,
                                            key=key, threads=t.threads,
                                            progress=lambda m: status.update(m))
        proc = board.proc
        what = f"emulated {t.name} (qemu-aarch64 -cpu {t.qemu_cpu})"
    else:
        cmd = [sys.executable, "-m", "tvm.exec.rpc_server", "--host", host, "--port", str(port),
               "--port-end", str(port + 1)]
        if tracker:
            cmd += ["--tracker", tracker, "--key", key]
        proc = subprocess.Popen(cmd, start_new_session=True,
                                env={**os.environ, **runtime_env(t.threads)})
        what = f"{t.name} (this machine)"
    via = f", registered with tracker {tracker} as '{key}'" if tracker else ""
    con.print(f"serving {what} on {host}:{port}{via}; Ctrl-C to stop", highlight=False)
    _wait(proc, con)


@command.command("tracker")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=9190, show_default=True)
def tracker_cmd(host: str, port: int) -> None:
    """Run a TVM RPC tracker (board farm registry) until interrupted."""
    _sigterm_interrupts()
    con = Console(stderr=True)
    proc = start_tracker(host, port)
    con.print(f"tracker on {host}:{port}; Ctrl-C to stop", highlight=False)
    _wait(proc, con)
