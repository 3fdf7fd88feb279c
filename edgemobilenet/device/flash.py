"""Put a build's firmware on a board: the command comes from the target file's `[flash]`
table (openocd, pyocd, st-flash, copy to the board's USB drive) or, for an emulated target,
booting the ELF in QEMU and checking that the firmware answers with the build's model hash.
"""
from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from edgemobilenet.build_dir import read_manifest
from edgemobilenet import child
from edgemobilenet.errors import EdgembError
from edgemobilenet.targets import Target

FLASH_TIMEOUT_S = 600.0   # one image conversion or flashing run
PROBES = ("openocd", "pyocd", "stlink", "copy")
# program -> where it comes from (for the error when it is missing)
PACKAGES = {"openocd": "the Debian package `openocd` (apt-get install openocd)",
            "pyocd": "the PyPI package `pyocd` (pip install pyocd)",
            "st-flash": "the Debian package `stlink-tools` (apt-get install stlink-tools)",
            "arm-none-eabi-objcopy": "the Debian package `binutils-arm-none-eabi`",
            "qemu-system-arm": "the Debian package `qemu-system-arm`"}


@dataclass
class FlashPlan:
    """What flashing does: `convert` makes `image` from the ELF (or is None), then `command`
    runs (for `copy`, `command` is the equivalent `cp` line; the copy is done in Python)."""

    method: str
    elf: Path
    image: Path
    command: list[str]
    convert: list[str] | None = None
    drive: Path | None = None
    tools: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The shell lines this plan stands for (what --dry-run prints)."""
        cmds = ([self.convert] if self.convert else []) + [self.command]
        return [shlex.join(c) for c in cmds]


def read_build(build_dir: str | Path) -> tuple[Path, dict]:
    """(firmware.elf, manifest) of a build directory, with one-line errors."""
    d, doc = read_manifest(build_dir)
    elf = d / "firmware.elf"
    if not elf.is_file():
        raise EdgembError(f"{d}: no firmware.elf (this build has no MCU firmware)")
    return elf, doc


def _objcopy(target: Target) -> str:
    return (target.compiler or "arm-none-eabi-gcc").removesuffix("gcc") + "objcopy"


def plan_flash(build_dir: str | Path, target: Target, probe: str | None = None,
               drive: str | Path | None = None) -> FlashPlan:
    """The flashing plan for `build_dir` on `target`, with `probe` in place of the target's
    own method if given. The target file's flash args apply only to its own method."""
    elf, doc = read_build(build_dir)
    if doc["target"] != target.name:
        raise EdgembError(f"{build_dir}: built for {doc['target']}, not {target.name} "
                          f"(recompile with --target {target.name})")
    if target.flash is None:
        raise EdgembError(f"{target.name}: kind '{target.kind}' has no [flash] table")
    method = probe or target.flash.method
    if method not in PROBES + ("qemu",):
        raise EdgembError(f"{target.name}: unknown flash method '{method}' "
                          f"(one of {', '.join(PROBES)})")
    args = list(target.flash.args) if method == target.flash.method else []
    elf = elf.resolve()
    if method == "qemu":
        from edgemobilenet.device.qemu import QEMU, qemu_command
        if target.qemu is None:
            raise EdgembError(f"{target.name}: flash method 'qemu' but no [qemu] table")
        cmd = [a.replace("127.0.0.1:0,", "127.0.0.1:PORT,") for a in qemu_command(target, elf, 0)]
        return FlashPlan("qemu", elf, elf, cmd, tools=[QEMU])
    if method == "openocd":
        if not args:
            raise EdgembError(f"{target.name}: openocd needs a board config; set "
                              "flash.method = \"openocd\" and flash.args = [\"-f\", "
                              "\"board/....cfg\"] in its target file")
        return FlashPlan("openocd", elf, elf, ["openocd", *args, "-c",
                                               f"program {{{elf}}} verify reset exit"],
                         tools=["openocd"])
    if method == "pyocd":
        return FlashPlan("pyocd", elf, elf, ["pyocd", "flash", *args, str(elf)],
                         tools=["pyocd"])
    assert target.memory is not None
    objcopy = _objcopy(target)
    if method == "stlink":
        image = elf.with_suffix(".bin")
        return FlashPlan("stlink", elf, image,
                         ["st-flash", *args, "--reset", "write", str(image),
                          hex(target.memory.flash_origin)],
                         convert=[objcopy, "-O", "binary", str(elf), str(image)],
                         tools=[objcopy, "st-flash"])
    # copy: an Intel HEX carries its load address, so any drive-style bootloader takes it
    where = drive or (args[0] if args else None)
    if where is None:
        raise EdgembError(f"{target.name}: copy needs the board's USB drive: pass --drive "
                          "(e.g. /media/$USER/NODE_L4R5ZI) or set flash.args = [\"<mount "
                          "point>\"] with flash.method = \"copy\" in its target file")
    image = elf.with_suffix(".hex")
    return FlashPlan("copy", elf, image, ["cp", str(image), str(Path(where)) + os.sep],
                     convert=[objcopy, "-O", "ihex", str(elf), str(image)],
                     drive=Path(where), tools=[objcopy])


def check_tools(plan: FlashPlan) -> None:
    """A missing program becomes an error naming the package that provides it."""
    for tool in plan.tools:
        if shutil.which(tool) is None:
            pkg = PACKAGES.get(tool, "your distribution")
            raise EdgembError(f"{tool}: not found; it comes from {pkg}")


def _run(cmd: list[str], what: str) -> str:
    r = child.run(cmd, what, FLASH_TIMEOUT_S)
    if r.returncode != 0:
        lines = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.strip()]
        err = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "")
        raise EdgembError(f"{what}: {cmd[0]} exited with {r.returncode}: {err.strip()}")
    return r.stdout


def convert_image(plan: FlashPlan) -> None:
    """Run the ELF -> bin/hex conversion into a temp file, then rename into place."""
    if plan.convert is None:
        return
    tmp = plan.image.with_name(f".{plan.image.name}.tmp")
    cmd = [*plan.convert[:-1], str(tmp)]
    try:
        _run(cmd, str(plan.elf))
        os.replace(tmp, plan.image)
    finally:
        tmp.unlink(missing_ok=True)


def flash(plan: FlashPlan, target: Target, expected_hash: str) -> dict:
    """Carry out the plan; returns what happened ({"method", "image", ...})."""
    check_tools(plan)
    if plan.method == "qemu":
        return _boot_in_qemu(plan, target, expected_hash)
    convert_image(plan)
    if plan.method == "copy":
        assert plan.drive is not None
        if not plan.drive.is_dir():
            raise EdgembError(f"{plan.drive}: not a mounted drive (is the board plugged in?)")
        # a drive-style bootloader flashes as the file is written: write it in place once
        dst = plan.drive / plan.image.name
        try:
            shutil.copyfile(plan.image, dst)
            fd = os.open(dst, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise EdgembError(f"{dst}: cannot write ({e.strerror})") from None
        return {"method": "copy", "image": str(plan.image), "copied_to": str(dst)}
    _run(plan.command, f"flashing {plan.image}")
    return {"method": plan.method, "image": str(plan.image)}


def _boot_in_qemu(plan: FlashPlan, target: Target, expected_hash: str) -> dict:
    """Emulated 'flashing': boot the ELF and check the firmware's info reply."""
    from edgemobilenet.device.mcu import Device
    from edgemobilenet.device.qemu import emulate

    with emulate(target, plan.elf) as emu:
        info = Device(emu.link, expected_hash=expected_hash).info()
    return {"method": "qemu", "image": str(plan.elf), "machine": target.qemu.machine,
            "model_hash": info.model_hash, "input_shape": list(info.input_shape),
            "output_shape": list(info.output_shape), "arena_size": info.arena_size,
            "layers": info.num_layers}
