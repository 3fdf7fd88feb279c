"""Runs INSIDE the emulated Pi (the aarch64 root's Python under qemu-aarch64): TVM's RPC
server loop in the main thread of one process. Stdlib and TVM only, never edgemobilenet.

`python -m tvm.exec.rpc_server` binds its port, then runs the accept loop in a thread of a
second Python (`tvm.exec.popen_worker`) and forks one child per session from that thread
while the worker's main thread blocks on a pipe. Under qemu-user a fork from a
multi-threaded guest can leave the child deadlocked; the loop then waits for that child
for ever and every later client sits in the listen queue (seen: an early `bench --rpc`
hung, and so did every later one). Here:
- the socket is bound only once TVM is imported: a client during start-up is refused;
- sessions are forked from a single-threaded process, and there is no second process
  (the popen_worker that survived SIGTERM);
- SIGTERM (from `stop`, or sent by the kernel when the process that started the server
  dies) kills the server's whole process group, its session children included;
- a session whose client asked for no time limit gets `--session-limit` seconds: a hung
  session is killed and the server goes on.
Uses `tvm.rpc.server._listen_loop` and `_parse_server_opt` (private; TVM 0.27.0.post1).
"""
import argparse
import os
import signal
import socket


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tracker", default=None, help="HOST:PORT")
    ap.add_argument("--key", default="")
    ap.add_argument("--session-limit", type=float, default=1800.0)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: os.killpg(os.getpgrp(), signal.SIGKILL))

    from tvm.rpc import server   # the slow part (about 10-30 s emulated): before binding

    parse = server._parse_server_opt
    server._parse_server_opt = lambda opts: {"timeout": a.session_limit, **parse(opts)}
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((a.host, a.port))
    sock.listen(8)
    server.logger.info("bind to %s:%d", a.host, a.port)
    tracker = None
    if a.tracker:
        host, _, port = a.tracker.rpartition(":")
        tracker = (host, int(port))
    server._listen_loop(sock, a.port, a.key, tracker, None, None)


if __name__ == "__main__":
    main()
