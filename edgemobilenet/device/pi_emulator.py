"""An emulated Raspberry Pi: a TVM RPC server running under qemu-user (aarch64).

QEMU 7.2 has no Pi 4 machine, so the board is emulated at the process level: an aarch64
root (Debian arm64 Python 3.11 + aarch64 wheels of TVM and its runtime deps) prepared once
under `~/.cache/edgemb/pi-root` (outside the repository; `EDGEMB_CACHE` moves it), and
TVM's RPC server loop (`pi_rpc_server.py`) run with `qemu-aarch64-static -cpu <target cpu>`.
TVM's worker pool re-executes `sys.executable`; a `sitecustomize.py` in the root points it
at a wrapper script that starts the same qemu command. Preparation downloads from Debian
and PyPI (set-up time only); running never downloads.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgemobilenet.cache import cache_dir, log_file
from edgemobilenet.device.rpc import die_with_parent, parse_hostport, stop_group, wait_for_board
from edgemobilenet.device.tvm_vm import runtime_env
from edgemobilenet import child
from edgemobilenet.errors import EdgembError
from edgemobilenet.targets import CpuInfo

DEBS = ["python3.11-minimal", "libpython3.11-stdlib", "libstdc++6"]
WHEELS = ["apache-tvm==0.27.0.post1", "apache-tvm-ffi==0.1.14.post0", "numpy", "cloudpickle",
          "psutil", "tornado", "typing-extensions", "ml-dtypes"]
# the peers measured on the same emulated core (tools/bench_pi_emulated.py), same versions
# as on the host; onnxruntime needs a Pi-like /proc/cpuinfo in the root (`peer_root`)
PEER_WHEELS = ["ai-edge-litert==2.3.0", "onnxruntime==1.32.0", "flatbuffers", "protobuf",
               "packaging", "backports.strenum", "tqdm"]
STAMP = ".edgemb-ready"
PEER_STAMP = ".edgemb-peers"
PYTHON = "usr/bin/python3.11"
SERVER = Path(__file__).with_name("pi_rpc_server.py")   # the board's RPC server (guest side)
WRAPPER = "edgemb-python"   # host script re-entering qemu: the root's sys.executable
SITECUSTOMIZE = '''"""edgemb: TVM re-executes sys.executable; point it at the qemu wrapper."""
import os
import sys

if os.environ.get("EDGEMB_PI_PYTHON"):
    sys.executable = os.environ["EDGEMB_PI_PYTHON"]
'''

Progress = Callable[[str], None]


def root_dir() -> Path:
    return cache_dir() / "pi-root"


def _run(cmd: list[str], what: str, timeout: float = 900, **kw) -> subprocess.CompletedProcess:
    r = child.run(cmd, f"pi emulator: {what}", timeout, **kw)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        raise EdgembError(f"pi emulator: {what} failed: {' | '.join(tail)}")
    return r


def _apt_options(state: Path) -> list[str]:
    """apt with its own state, lists and cache, resolving for arm64 only."""
    return ["-o", f"Dir::Etc={state / 'etc'}", "-o", f"Dir::State::Lists={state / 'lists'}",
            "-o", f"Dir::State::status={state / 'status'}", "-o", f"Dir::Cache={state / 'cache'}",
            "-o", f"Dir::Cache::archives={state / 'archives'}", "-o", "APT::Architecture=arm64",
            "-o", "APT::Architectures::=arm64", "-o", "Debug::NoLocking=1",
            "-o", "Dir::Etc::TrustedParts=/etc/apt/trusted.gpg.d", "-o", "APT::Sandbox::User=root"]


def _download_debs(state: Path, say: Progress) -> list[Path]:
    for d in ("lists/partial", "archives/partial", "etc/sources.list.d", "etc/preferences.d",
              "etc/apt.conf.d"):
        (state / d).mkdir(parents=True, exist_ok=True)
    (state / "status").touch()
    for src in Path("/etc/apt/sources.list.d").glob("*.sources"):
        shutil.copy(src, state / "etc/sources.list.d" / src.name)
    if Path("/etc/apt/sources.list").is_file():
        shutil.copy("/etc/apt/sources.list", state / "etc/sources.list")
    opts = _apt_options(state)
    say("apt: updating arm64 package lists")
    _run(["apt-get", *opts, "-q", "update"], "apt-get update (arm64)")
    say(f"apt: downloading {', '.join(DEBS)} and their dependencies (arm64)")
    _run(["apt-get", *opts, "-y", "-q", "--no-install-recommends", "--download-only",
          "install", *DEBS], "apt-get download (arm64)")
    debs = sorted((state / "archives").glob("*_arm64.deb")) + \
        sorted((state / "archives").glob("*_all.deb"))
    if not debs:
        raise EdgembError("pi emulator: apt downloaded no arm64 packages")
    return debs


def _extract(debs: list[Path], root: Path, say: Progress) -> None:
    for d in ("usr/bin", "usr/lib", "usr/sbin"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for link in ("bin", "lib", "sbin"):  # merged /usr, as on the board
        (root / link).symlink_to(f"usr/{link}")
    for i, deb in enumerate(debs, 1):
        if i % 20 == 1 or i == len(debs):
            say(f"extracting packages {i}/{len(debs)}")
        _run(["bash", "-o", "pipefail", "-c", 'dpkg-deb --fsys-tarfile "$1" | '
              'tar -x --keep-directory-symlink -C "$2"', "extract", str(deb), str(root)],
             f"extracting {deb.name}", timeout=child.TOOL_TIMEOUT_S)


def _install_wheels(wheels: Path, site: Path, say: Progress, names: list[str] = WHEELS
                    ) -> None:
    pip = [sys.executable, "-m", "pip"]
    aarch64 = ["--platform", "manylinux_2_28_aarch64", "--platform", "manylinux_2_27_aarch64",
               "--platform", "manylinux_2_17_aarch64", "--only-binary=:all:",
               "--python-version", "3.11", "--implementation", "cp"]
    say(f"pip: downloading aarch64 wheels ({', '.join(names)})")
    _run([*pip, "download", "-q", "--no-deps", "--dest", str(wheels), *aarch64, *names],
         "pip download (aarch64)")
    say("pip: installing wheels into the root")
    _run([*pip, "install", "-q", "--no-deps", "--no-compile", "--upgrade", "--target",
          str(site), *aarch64, *names],
         "pip install --target", env={**os.environ, "PIP_FIND_LINKS": str(wheels),
                                      "PIP_NO_INDEX": "1"})


def prepare_peers(progress: Progress | None = None) -> Path:
    """Add the peers' aarch64 wheels (LiteRT, onnxruntime) to the root (once)."""
    say = progress or (lambda _msg: None)
    root = prepare_root(progress)
    if (root / PEER_STAMP).is_file():
        return root
    _install_wheels(cache_dir() / "pi-downloads" / "wheels", root / "site", say, PEER_WHEELS)
    (root / PEER_STAMP).write_text("\n".join(PEER_WHEELS) + "\n")
    return root


def _cpuinfo(info: CpuInfo, cores: int = 4) -> str:
    """/proc/cpuinfo of a Raspberry Pi whose cores are `info` (the target's [qemu.cpuinfo]).
    qemu-user shows the guest the host's file, on which onnxruntime's CPU detection crashes;
    it serves PREFIX/proc/cpuinfo instead when that file exists under QEMU_LD_PREFIX. Only
    the peers' root gets one: the RPC board's LLVM would then claim a real core (see
    rpc_runner)."""
    text = "".join(f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {' '.join(info.features)}\n"
                   f"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\n"
                   f"CPU part\t: {info.part:#05x}\nCPU revision\t: {info.revision}\n\n"
                   for i in range(cores))
    return text + "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi (emulated by edgemb)\n"


def peer_root(cpu: str, info: CpuInfo) -> Path:
    """A prefix for the peers on the emulated core `cpu` (qemu's -cpu name): the root's
    entries (symlinks) plus a Pi-like proc/cpuinfo saying `info`. One per core, so runs on
    different cores do not race."""
    root = prepare_peers()
    overlay = cache_dir() / f"pi-root-{cpu}"
    overlay.mkdir(exist_ok=True)
    for entry in root.iterdir():
        link = overlay / entry.name
        if not link.is_symlink() and not link.exists():
            link.symlink_to(entry)
    path = overlay / "proc" / "cpuinfo"
    text = _cpuinfo(info)
    if not (path.is_file() and path.read_text() == text):
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}")
        tmp.write_text(text)
        tmp.rename(path)
    return overlay


def prepare_root(progress: Progress | None = None, force: bool = False) -> Path:
    """Build the aarch64 root once (about 40 MB of packages); returns its path."""
    say = progress or (lambda _msg: None)
    root = root_dir()
    if (root / STAMP).is_file() and not force:
        return root
    downloads = cache_dir() / "pi-downloads"
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _extract(_download_debs(downloads / "apt", say), tmp, say)
        _install_wheels(downloads / "wheels", tmp / "site", say)
        (tmp / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
        wrapper = tmp / WRAPPER
        wrapper.write_text('#!/bin/sh\nexec "$EDGEMB_QEMU" "$EDGEMB_PI_ROOT/' + PYTHON + '" "$@"\n')
        wrapper.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
        say("checking: import tvm on the emulated CPU")
        r = _run([*python_command(root, "cortex-a72"), "-c", "import tvm; print(tvm.__version__)"],
                 "import tvm under qemu", timeout=300, env=python_env(root, "cortex-a72"))
        (root / STAMP).write_text(r.stdout.strip() + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"ready: {root} (tvm {r.stdout.strip()})")
    return root


def _qemu_binary() -> str:
    for name in ("qemu-aarch64-static", "qemu-aarch64"):
        if shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    raise EdgembError("pi emulator: qemu-aarch64(-static) is not installed "
                      "(Debian package qemu-user-static)")


def python_command(root: Path, cpu: str) -> list[str]:
    return [_qemu_binary(), "-cpu", cpu, str(root / PYTHON)]


def python_env(root: Path, cpu: str, threads: int | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(QEMU_LD_PREFIX=str(root), QEMU_CPU=cpu, PYTHONPATH=str(root / "site"),
               PYTHONNOUSERSITE="1", EDGEMB_QEMU=_qemu_binary(), EDGEMB_PI_ROOT=str(root),
               EDGEMB_PI_PYTHON=str(root / WRAPPER))
    env.update(runtime_env(threads))
    return env


@dataclass
class EmulatedBoard:
    """A running emulated board: an RPC server process (stop() it, or use `with`)."""

    proc: subprocess.Popen
    host: str
    port: int
    cpu: str
    log: Path

    def stop(self) -> None:
        """Stop the server and its forked workers (its own process group)."""
        stop_group(self.proc)

    def __enter__(self) -> EmulatedBoard:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_board(cpu: str, *, host: str = "127.0.0.1", port: int | None = None,
                tracker: str | None = None, key: str | None = None, threads: int | None = None,
                progress: Progress | None = None, ready_timeout: float = 180) -> EmulatedBoard:
    """Start TVM's RPC server (`pi_rpc_server.py`) under qemu-aarch64 for `cpu`; wait until
    it listens.

    The server gets SIGTERM when the thread that started it ends, also when this process
    is killed without a chance to stop it (`rpc.die_with_parent`); it then stops its sessions.

    With `tracker` ("HOST:PORT") and `key` the server registers with the tracker; the call
    returns once the tracker lists it.
    """
    root = prepare_root(progress)
    port = port or free_port(host)
    cmd = [*python_command(root, cpu), str(SERVER), "--host", host, "--port", str(port)]
    if tracker:
        cmd += ["--tracker", tracker, "--key", key or "rpi"]
    log = log_file(f"pi-server-{port}.log")
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT,
                                env=python_env(root, cpu, threads), start_new_session=True,
                                preexec_fn=die_with_parent)
    board = EmulatedBoard(proc, host, port, cpu, log)
    try:   # on every way out but success (errors, Ctrl-C, SIGTERM) the board is stopped
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise EdgembError(f"pi emulator: RPC server exited ({proc.returncode}): "
                                  f"{log.read_text()[-300:]}")
            if "bind to" in log.read_text():  # listening (pi_rpc_server.py)
                if tracker:   # ... and usable through the tracker once registered
                    th, tp = parse_hostport(tracker, "tracker")
                    wait_for_board(th, tp, key or "rpi", max(deadline - time.monotonic(), 1))
                return board
            time.sleep(0.5)
        raise EdgembError(f"pi emulator: RPC server did not start within {ready_timeout:.0f} s "
                          f"(log {log})")
    except BaseException:
        board.stop()
        raise
