"""The TVM view of a `kind = "linux"` target (its [tvm], [rpc] and [qemu] tables)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from edgemobilenet.errors import EdgembError
from edgemobilenet.targets import CpuInfo, Target, load_target


@dataclass(frozen=True)
class LinuxTarget:
    name: str
    tvm_target: dict[str, Any]      # TVM target dict, "host" CPU and 0 cores resolved
    cross_compiler: str | None      # None: the host's compiler
    threads: int                    # TVM_NUM_THREADS on the board
    rpc_key: str
    rpc_port: int
    qemu_user: str | None           # qemu-user binary for the emulated board
    qemu_cpu: str | None
    cpuinfo: CpuInfo | None         # what the emulated core's /proc/cpuinfo says

    @property
    def is_host(self) -> bool:
        return self.cross_compiler is None


def linux_target(target: Target | str) -> LinuxTarget:
    """Read and check the linux tables of a target (by name, path or loaded Target)."""
    t = load_target(target) if isinstance(target, str) else target
    where = f"target '{t.name}'"
    if t.kind != "linux":
        raise EdgembError(f"{where}: kind '{t.kind}' is not a linux (TVM) target")
    tvm_t, rpc, qemu = (t.extra.get(k, {}) for k in ("tvm", "rpc", "qemu"))
    spec = tvm_t.get("target")
    if not isinstance(spec, dict) or "kind" not in spec:
        raise EdgembError(f"{where}: [tvm] needs a 'target' table with a 'kind'")
    spec = dict(spec)
    if spec.get("mcpu") == "host":
        import tvm
        spec["mcpu"] = tvm.target.codegen.llvm_get_system_cpu()
    if spec.get("num-cores") == 0:
        spec["num-cores"] = os.cpu_count() or 1
    threads = int(tvm_t.get("threads", 0)) or os.cpu_count() or 1
    return LinuxTarget(
        name=t.name, tvm_target=spec, cross_compiler=tvm_t.get("cross_compiler") or None,
        threads=threads, rpc_key=str(rpc.get("key", t.name)), rpc_port=int(rpc.get("port", 9090)),
        qemu_user=qemu.get("user"), qemu_cpu=qemu.get("cpu"), cpuinfo=t.cpuinfo)
