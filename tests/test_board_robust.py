"""The emulated board, robust: a client that connects while `edgemb board serve --emulate`
is starting is refused or served, never left hanging; every RPC wait has a limit ending
in a one-line error; stopping the server stops everything it started, even SIGKILL to
`edgemb board serve` with a session open (the server gets SIGTERM from the kernel when
its parent dies and kills its process group)."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edgemobilenet.device.pi_emulator import free_port, prepare_root
from edgemobilenet.device.rpc import connect
from edgemobilenet.errors import EdgembError

EDGEMB = str(Path(sys.executable).parent / "edgemb")


def test_a_server_that_never_answers_ends_in_a_one_line_error():
    import tvm.rpc  # noqa: F401 - imported before the clock starts (slow on a busy machine)

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    accepted = []   # accept, then say nothing: the client waits in its handshake read
    threading.Thread(target=lambda: accepted.append(srv.accept()), daemon=True).start()
    t0 = time.monotonic()
    with pytest.raises(EdgembError, match=f"rpc server 127.0.0.1:{port}: no answer within 2 s"):
        connect(rpc=f"127.0.0.1:{port}", timeout=2)
    assert time.monotonic() - t0 < 10
    assert accepted
    srv.close()


def _left(port: int) -> str:
    r = subprocess.run(["pgrep", "-af", "--", f"--port {port}"], capture_output=True, text=True)
    return "\n".join(ln for ln in r.stdout.splitlines() if "pgrep" not in ln)


@pytest.mark.slow  # about 1-2 min: one emulated board start (import tvm under qemu)
def test_early_clients_are_served_and_killing_the_cli_leaves_nothing():
    prepare_root()
    port = free_port()
    serve = subprocess.Popen([EDGEMB, "board", "serve", "--target", "rpi4", "--emulate",
                              "--port", str(port)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        # a new user: connect at once, retry while the port is refused
        deadline, served, refused = time.monotonic() + 300, 0, 0
        while served < 3 and time.monotonic() < deadline:
            assert serve.poll() is None, serve.stderr.read()
            t0 = time.monotonic()
            try:
                s = connect(rpc=f"127.0.0.1:{port}", timeout=90)
            except EdgembError as e:
                assert "cannot connect" in str(e), e      # refused, never hung
                assert time.monotonic() - t0 < 30
                refused += 1
                time.sleep(0.2)
                continue
            s.upload(bytearray(b"edgemb"), "probe.txt")           # a real round trip per session
            assert bytes(s.download("probe.txt")) == b"edgemb"
            served += 1
            del s    # the server serves one session at a time
        assert served == 3, f"served {served} sessions, refused {refused}"
        held = connect(rpc=f"127.0.0.1:{port}", timeout=90)   # open while the CLI is killed
        held.upload(bytearray(b"edgemb"), "probe.txt")
        assert _left(port), "the server's processes should be running"
    finally:   # SIGKILL: `edgemb board serve` gets no chance to stop anything itself
        serve.send_signal(signal.SIGKILL)
        serve.wait(60)
    deadline = time.monotonic() + 20
    while _left(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _left(port) == "", f"left running after SIGKILL:\n{_left(port)}"
