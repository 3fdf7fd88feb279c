"""Build a firmware ELF for an MCU target: runtime + board support + kernels + model sources,
through firmware/runtime/runtime.mk with the target's variables."""
from __future__ import annotations

from pathlib import Path

from edgemobilenet import child
from edgemobilenet.errors import EdgembError
from edgemobilenet.targets import FIRMWARE_DIR, Target

RUNTIME_MK = FIRMWARE_DIR / "runtime" / "runtime.mk"


def make_args(target: Target, model_sources: list[Path], build_dir: Path,
              model_cflags: str = "", kernel_sources: list[Path] | None = None) -> list[str]:
    """The `make` command line that builds `build_dir/firmware.elf`."""
    args = ["make", "-s", "-f", str(RUNTIME_MK), f"BUILD={Path(build_dir).resolve()}",
            "MODEL_SRCS=" + " ".join(str(Path(s).resolve()) for s in model_sources)]
    args += [f"{k}={v}" for k, v in target.make_vars().items()]
    if model_cflags:
        args.append(f"MODEL_CFLAGS={model_cflags}")
    if kernel_sources is not None:
        args.append("KERNEL_SRCS=" + " ".join(str(Path(s).resolve()) for s in kernel_sources))
    return args


def build_firmware(target: Target, model_sources: list[Path], build_dir: Path,
                   model_cflags: str = "", kernel_sources: list[Path] | None = None,
                   jobs: int = 2) -> Path:
    """Compile and link; returns the ELF path. A compiler error becomes an EdgembError."""
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    cmd = make_args(target, model_sources, build_dir, model_cflags, kernel_sources)
    r = child.run(cmd + [f"-j{jobs}"], f"firmware for {target.name}", child.COMPILE_TIMEOUT_S)
    if r.returncode != 0:
        out = (r.stderr or r.stdout or "").strip().splitlines()
        errors = [ln for ln in out if "error" in ln.lower()]
        first = (errors or out or ["make failed"])[0]
        raise EdgembError(f"firmware for {target.name}: build failed: {first}")
    return build_dir / "firmware.elf"
