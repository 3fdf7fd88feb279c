"""Targets are data: one TOML file per board under `targets/`, validated on load.

`kind` selects the schema: "mcu" (Cortex-M firmware over a serial protocol) or "linux"
(Cortex-A boards driven through TVM). Code reads fields, never board names.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgemobilenet.errors import EdgembError

TARGETS_DIR = Path(__file__).resolve().parent.parent / "targets"
FIRMWARE_DIR = Path(__file__).resolve().parent.parent / "firmware"

# field -> type, or a nested spec dict for a table; a name ending in "?" is optional
_FEATURES = {"dsp": bool, "mve": bool, "fpu": bool}
_COMMON = {"name": str, "kind": str, "description": str, "cpu": str, "clock_hz": int}
_MCU = {
    "features": _FEATURES,
    "flash_bytes": int, "sram_bytes": int, "reserved_sram_bytes": int,
    "compiler": str, "cflags": list, "kernels": str, "board": str,
    "memory": {"flash_origin": int, "flash_length": int, "ram_origin": int,
               "ram_length": int, "stack_bytes": int, "bulk_origin?": int,
               "bulk_length?": int},
    "timer": {"source": str, "tick_hz": int, "unit": str},
    "uart": {"base": int, "baud": int, "clock_hz": int, "bauddiv?": int},
    "flash": {"method": str, "args": list},
}
_MCU_OPTIONAL = {"qemu": {"machine": str, "args": list, "pool_origin?": int, "pool_length?": int,
                          "cycle_table?": str},
                 "llvm": {"mtriple": str, "mattr": list}}
# Cortex-A boards: their engineer extends these (tvm target, rpc key, emulation, ...).
_LINUX: dict[str, Any] = {"features": dict, "sram_bytes": int}
_LINUX_OPTIONAL: dict[str, Any] = {"tvm": dict, "rpc": dict, "qemu": dict}
# what /proc/cpuinfo says of the emulated core ([qemu.cpuinfo] of a linux target)
_CPUINFO = {"part": int, "revision": int, "features": list}

_CHOICES = {
    "kind": ("mcu", "linux"),
    "kernels": ("portable", "dsp", "mve"),
    "timer.source": ("systick", "dwt"),
    "timer.unit": ("instructions", "cycles"),
    "flash.method": ("openocd", "pyocd", "stlink", "copy", "qemu"),
    "qemu.cycle_table": ("m4", "m7"),   # the cores qemu_plugins/cm_cycles.c has tables for
}


@dataclass(frozen=True)
class Memory:
    flash_origin: int
    flash_length: int
    ram_origin: int
    ram_length: int
    stack_bytes: int
    bulk_origin: int | None = None   # optional big region (e.g. DDR) for .emb_bulk sections
    bulk_length: int | None = None


@dataclass(frozen=True)
class Timer:
    source: str    # systick | dwt
    tick_hz: int   # rate of board_clock() ticks
    unit: str      # instructions (emulation, -icount shift=0) | cycles


@dataclass(frozen=True)
class Uart:
    base: int
    baud: int
    clock_hz: int              # the UART's input clock
    bauddiv: int | None = None  # divider register value when not clock_hz // baud

    @property
    def divider(self) -> int:
        return self.bauddiv if self.bauddiv is not None else self.clock_hz // self.baud


@dataclass(frozen=True)
class Qemu:
    machine: str
    args: list[str]
    pool_origin: int | None = None   # emulated memory the kernel test firmware may use
    pool_length: int | None = None
    cycle_table: str | None = None   # cm_cycles plugin table of the core (cycle estimates)


@dataclass(frozen=True)
class Llvm:
    """The LLVM target of the CPU (TVM-generated kernels): triple and attributes."""

    mtriple: str
    mattr: list[str]


@dataclass(frozen=True)
class CpuInfo:
    """What Linux's /proc/cpuinfo says of a core: MIDR part number, revision, features."""

    part: int
    revision: int
    features: tuple[str, ...]


@dataclass(frozen=True)
class Flash:
    method: str
    args: list[str]


@dataclass(frozen=True)
class Target:
    """One board. MCU-only fields are None for kind == "linux"."""

    name: str
    kind: str
    description: str
    cpu: str
    clock_hz: int
    features: dict[str, bool]
    path: Path
    sram_bytes: int | None = None
    flash_bytes: int | None = None
    reserved_sram_bytes: int | None = None
    compiler: str | None = None
    cflags: list[str] = field(default_factory=list)
    kernels: str | None = None
    board: str | None = None
    memory: Memory | None = None
    timer: Timer | None = None
    uart: Uart | None = None
    qemu: Qemu | None = None
    flash: Flash | None = None
    llvm: Llvm | None = None
    cpuinfo: CpuInfo | None = None   # linux: the emulated core's /proc/cpuinfo facts
    extra: dict[str, Any] = field(default_factory=dict)   # linux tables (tvm, rpc, qemu)

    @property
    def emulated(self) -> bool:
        return self.qemu is not None

    def make_vars(self) -> dict[str, str]:
        """Variables for firmware/runtime/runtime.mk (MCU targets only)."""
        if self.kind != "mcu":
            raise EdgembError(f"{self.path}: kind '{self.kind}' has no firmware build")
        assert self.memory and self.timer and self.uart
        return {
            "CC": self.compiler or "",
            "TARGET_CFLAGS": " ".join(self.cflags),
            "EMB_BOARD": self.board or "",
            "EMB_TIMER": self.timer.source,
            "EMB_KERNELS": self.kernels or "portable",
            "EMB_CLOCK_HZ": str(self.clock_hz),
            "EMB_TICK_HZ": str(self.timer.tick_hz),
            "EMB_TICK_UNIT": self.timer.unit,
            "EMB_UART_BASE": hex(self.uart.base),
            "EMB_UART_BAUDDIV": str(self.uart.divider),
            "FLASH_ORIGIN": hex(self.memory.flash_origin),
            "FLASH_LENGTH": hex(self.memory.flash_length),
            "RAM_ORIGIN": hex(self.memory.ram_origin),
            "RAM_LENGTH": hex(self.memory.ram_length),
            "STACK_SIZE": str(self.memory.stack_bytes),
            "BULK_ORIGIN": hex(self.memory.bulk_origin) if self.memory.bulk_length else "",
            "BULK_LENGTH": hex(self.memory.bulk_length) if self.memory.bulk_length else "",
        }


def _check(data: dict, spec: dict, where: str, prefix: str = "", required: bool = True) -> None:
    for key, typ in spec.items():
        optional = key.endswith("?")
        key = key.rstrip("?")
        dotted = f"{prefix}{key}"
        if key not in data:
            if required and not optional:
                raise EdgembError(f"{where}: missing field '{dotted}'")
            continue
        value = data[key]
        if isinstance(typ, dict):
            if not isinstance(value, dict):
                raise EdgembError(f"{where}: field '{dotted}' must be a table")
            _check(value, typ, where, dotted + ".")
            unknown = sorted(set(value) - {k.rstrip("?") for k in typ})
            if unknown:
                raise EdgembError(f"{where}: unknown field '{dotted}.{unknown[0]}'")
            continue
        ok = isinstance(value, typ) and not (typ is int and isinstance(value, bool))
        if not ok:
            raise EdgembError(f"{where}: field '{dotted}' must be {typ.__name__}, "
                              f"got {type(value).__name__}")
        if typ is int and value < 0:
            raise EdgembError(f"{where}: field '{dotted}' must not be negative")
        if dotted in _CHOICES and value not in _CHOICES[dotted]:
            raise EdgembError(f"{where}: field '{dotted}' must be one of "
                              f"{', '.join(_CHOICES[dotted])}, got '{value}'")


def _validate_mcu(d: dict, where: str) -> None:
    if not all(isinstance(x, str) for x in d["cflags"]):
        raise EdgembError(f"{where}: field 'cflags' must be a list of strings")
    if not (FIRMWARE_DIR / "boards" / d["board"] / "board.mk").is_file():
        raise EdgembError(f"{where}: field 'board': no firmware/boards/{d['board']}/board.mk")
    mem = d["memory"]
    if mem["flash_length"] > d["flash_bytes"] or mem["ram_length"] > d["sram_bytes"]:
        raise EdgembError(f"{where}: memory regions exceed flash_bytes/sram_bytes")
    if ("bulk_origin" in mem) != ("bulk_length" in mem):
        raise EdgembError(f"{where}: memory.bulk_origin and memory.bulk_length go together")
    if mem["stack_bytes"] > d["reserved_sram_bytes"]:
        raise EdgembError(f"{where}: memory.stack_bytes exceeds reserved_sram_bytes")
    if d["features"]["mve"] and d["kernels"] == "dsp" or \
            d["kernels"] == "mve" and not d["features"]["mve"] or \
            d["kernels"] == "dsp" and not d["features"]["dsp"]:
        raise EdgembError(f"{where}: kernels '{d['kernels']}' do not match the features")


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(TARGETS_DIR.parent))
    except ValueError:
        return str(path)


def _cpuinfo(d: dict, where: str) -> CpuInfo | None:
    info = d.get("qemu", {}).get("cpuinfo")
    if info is None:
        return None
    if not isinstance(info, dict):
        raise EdgembError(f"{where}: field 'qemu.cpuinfo' must be a table")
    _check(info, _CPUINFO, where, "qemu.cpuinfo.")
    if not all(isinstance(f, str) for f in info["features"]):
        raise EdgembError(f"{where}: field 'qemu.cpuinfo.features' must be a list of strings")
    return CpuInfo(info["part"], info["revision"], tuple(info["features"]))


def _from_dict(d: dict, path: Path) -> Target:
    where = _display(path)
    _check(d, _COMMON, where)
    kind = d["kind"]
    spec, optional = (_MCU, _MCU_OPTIONAL) if kind == "mcu" else (_LINUX, _LINUX_OPTIONAL)
    _check(d, spec, where)
    _check(d, optional, where, required=False)
    unknown = sorted(set(d) - set(_COMMON) - set(spec) - set(optional))
    if unknown:
        raise EdgembError(f"{where}: unknown field '{unknown[0]}'")
    if path.stem != d["name"]:
        raise EdgembError(f"{where}: name '{d['name']}' differs from the file name")
    common = {k: d[k] for k in _COMMON}
    if kind == "linux":
        return Target(**common, features=d["features"], path=path,
                      sram_bytes=d["sram_bytes"], cpuinfo=_cpuinfo(d, where),
                      extra={k: d[k] for k in _LINUX_OPTIONAL if k in d})
    _validate_mcu(d, where)
    q = d.get("qemu")
    return Target(
        **common, features=d["features"], path=path,
        sram_bytes=d["sram_bytes"], flash_bytes=d["flash_bytes"],
        reserved_sram_bytes=d["reserved_sram_bytes"], compiler=d["compiler"],
        cflags=list(d["cflags"]), kernels=d["kernels"], board=d["board"],
        memory=Memory(**d["memory"]), timer=Timer(**d["timer"]), uart=Uart(**d["uart"]),
        qemu=Qemu(q["machine"], [str(a) for a in q["args"]], q.get("pool_origin"),
                  q.get("pool_length"), q.get("cycle_table")) if q else None,
        flash=Flash(d["flash"]["method"], [str(a) for a in d["flash"]["args"]]),
        llvm=Llvm(d["llvm"]["mtriple"], [str(a) for a in d["llvm"]["mattr"]])
        if "llvm" in d else None,
    )


def load_target(name_or_path: str | Path) -> Target:
    """A target by name (`targets/<name>.toml`) or by path to a TOML file."""
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = TARGETS_DIR / f"{name_or_path}.toml"
        if not p.is_file():
            known = ", ".join(t.stem for t in sorted(TARGETS_DIR.glob("*.toml")))
            raise EdgembError(f"target '{name_or_path}': unknown (known: {known})")
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise EdgembError(f"{p}: no such target file") from None
    except tomllib.TOMLDecodeError as e:
        raise EdgembError(f"{_display(p)}: not valid TOML: {e}") from None
    return _from_dict(data, p)


def list_targets() -> list[Target]:
    """Every target under targets/, sorted by name."""
    return [load_target(p) for p in sorted(TARGETS_DIR.glob("*.toml"))]
