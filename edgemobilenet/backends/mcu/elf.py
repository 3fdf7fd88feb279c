"""Compile pass "measure": flash, SRAM and bulk bytes of a linked firmware ELF."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from edgemobilenet.backends.mcu.layout import BULK_CONST
from edgemobilenet import child
from edgemobilenet.errors import EdgembError
from edgemobilenet.targets import Target

_SECTION = re.compile(r"^\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)"
                      r"\s+[0-9a-f]+\s+(\S*)\s+\d+\s+\d+\s+\d+\s*$")


def elf_sections(elf: Path, readelf: str) -> list[tuple[str, str, int, str]]:
    """(name, type, size, flags) of every section, from `readelf -S -W`."""
    r = child.run([readelf, "-S", "-W", str(elf)], str(elf), child.TOOL_TIMEOUT_S)
    if r.returncode != 0:
        raise EdgembError(f"{elf}: readelf failed: {r.stderr.strip()}")
    out = []
    for line in r.stdout.splitlines():
        m = _SECTION.match(line)
        if m:
            out.append((m.group(1), m.group(2), int(m.group(3), 16), m.group(4)))
    return out


def measure(elf: Path, target: Target) -> tuple[int, int, int, dict[str, int]]:
    """(flash_bytes, sram_bytes, bulk_bytes, allocated sections) of a linked ELF.

    Flash: allocated sections with contents (text, rodata, exidx, the .data load image).
    SRAM: writable allocated sections (data, bss) plus the target's stack reservation.
    Bulk: the .emb_bulk* sections when the target has a bulk region (else they are in
    flash and SRAM).
    """
    readelf = (target.compiler or "gcc").removesuffix("gcc") + "readelf"
    if shutil.which(readelf) is None:
        readelf = "readelf"
    secs = [s for s in elf_sections(elf, readelf) if "A" in s[3] and s[2] > 0]
    has_bulk = bool(target.memory and target.memory.bulk_length)
    bulk = sum(s[2] for s in secs if has_bulk and s[0].startswith(BULK_CONST))
    rest = [s for s in secs if not (has_bulk and s[0].startswith(BULK_CONST))]
    flash = sum(size for _, typ, size, _ in rest if typ != "NOBITS")
    stack = target.memory.stack_bytes if target.memory else 0
    sram = sum(size for _, _, size, flags in rest if "W" in flags) + stack
    return flash, sram, bulk, {name: size for name, _, size, _ in secs}
