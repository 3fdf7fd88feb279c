"""`edgemb flash`: the command for each probe built from the target file, ELF -> bin/hex
conversion with the real objcopy, missing tools named with their package, and the emulated
case booting the firmware in QEMU."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgemobilenet.cli import main
from edgemobilenet.device.flash import convert_image, flash, plan_flash
from edgemobilenet.errors import EdgembError
from edgemobilenet.targets import load_target

pytestmark = pytest.mark.needs("arm-none-eabi-gcc")
PAYLOAD = bytes(range(1, 65))


def _board_build(tmp_path: Path, target_name: str) -> Path:
    """A build directory for a real board: a tiny ELF linked at the target's flash origin
    holding PAYLOAD, and a manifest naming the target."""
    t = load_target(target_name)
    d = tmp_path / target_name
    d.mkdir()
    src = d / "fw.c"
    src.write_text("const unsigned char payload[64] __attribute__((used)) = {"
                   + ",".join(map(str, PAYLOAD)) + "};\n")
    subprocess.run([t.compiler, *t.cflags, "-nostdlib", "-nostartfiles", "-Wl,-e,0",
                    f"-Wl,-Ttext={t.memory.flash_origin:#x}",
                    f"-Wl,--section-start=.rodata={t.memory.flash_origin:#x}",
                    "-o", str(d / "firmware.elf"), str(src)], check=True)
    (d / "manifest.json").write_text(json.dumps({"target": t.name, "model_hash": "ab" * 32}))
    return d


def test_openocd_from_target_file(tmp_path) -> None:
    d = _board_build(tmp_path, "stm32f746g-disco")
    plan = plan_flash(d, load_target("stm32f746g-disco"))
    elf = (d / "firmware.elf").resolve()
    assert plan.convert is None and plan.command == [
        "openocd", "-f", "board/stm32f7discovery.cfg", "-c",
        f"program {{{elf}}} verify reset exit"]


def test_pyocd_from_target_file(tmp_path) -> None:
    d = _board_build(tmp_path, "nucleo-l4r5zi")
    plan = plan_flash(d, load_target("nucleo-l4r5zi"))
    assert plan.command == ["pyocd", "flash", "-t", "stm32l4r5zitx",
                            str((d / "firmware.elf").resolve())]


def test_stlink_converts_to_bin_at_flash_origin(tmp_path) -> None:
    d = _board_build(tmp_path, "nucleo-l4r5zi")
    plan = plan_flash(d, load_target("nucleo-l4r5zi"), probe="stlink")
    assert plan.command == ["st-flash", "--reset", "write", str(plan.image), "0x8000000"]
    assert plan.convert[:3] == ["arm-none-eabi-objcopy", "-O", "binary"]
    convert_image(plan)
    assert plan.image.read_bytes().startswith(PAYLOAD)
    assert sorted(p.name for p in d.iterdir()) == ["firmware.bin", "firmware.elf", "fw.c",
                                                    "manifest.json"]


def test_openocd_without_config_is_refused(tmp_path) -> None:
    d = _board_build(tmp_path, "nucleo-l4r5zi")
    with pytest.raises(EdgembError, match="openocd needs a board config"):
        plan_flash(d, load_target("nucleo-l4r5zi"), probe="openocd")


def test_copy_writes_hex_to_drive(tmp_path) -> None:
    d = _board_build(tmp_path, "nucleo-l4r5zi")
    drive = tmp_path / "NODE_L4R5ZI"
    drive.mkdir()
    t = load_target("nucleo-l4r5zi")
    with pytest.raises(EdgembError, match="--drive"):
        plan_flash(d, t, probe="copy")
    plan = plan_flash(d, t, probe="copy", drive=drive)
    res = flash(plan, t, "ab" * 32)
    hexfile = drive / "firmware.hex"
    assert res["copied_to"] == str(hexfile)
    lines = hexfile.read_text().split()
    assert lines[0] == ":020000040800F2"        # extended linear address 0x0800xxxx
    assert lines[1][9:9 + 32] == PAYLOAD[:16].hex().upper()
    assert lines[-1] == ":00000001FF"


def test_missing_tool_names_package(tmp_path, monkeypatch) -> None:
    d = _board_build(tmp_path, "nucleo-l4r5zi")
    d7 = _board_build(tmp_path, "stm32f746g-disco")
    t = load_target("nucleo-l4r5zi")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for probe, pkg in (("pyocd", "PyPI package `pyocd`"),
                       ("stlink", "Debian package `binutils-arm-none-eabi`")):
        with pytest.raises(EdgembError, match=pkg):
            flash(plan_flash(d, t, probe=probe), t, "ab" * 32)
    plan = plan_flash(d7, load_target("stm32f746g-disco"))
    with pytest.raises(EdgembError, match="openocd: not found.*Debian package `openocd`"):
        flash(plan, load_target("stm32f746g-disco"), "ab" * 32)
    plan = plan_flash(d, t, probe="stlink")
    plan.tools = ["st-flash"]
    with pytest.raises(EdgembError, match="Debian package `stlink-tools`"):
        flash(plan, t, "ab" * 32)


def test_wrong_target_and_missing_build(tmp_path) -> None:
    d = _board_build(tmp_path, "nucleo-l4r5zi")
    with pytest.raises(EdgembError, match="built for nucleo-l4r5zi, not stm32f746g-disco"):
        plan_flash(d, load_target("stm32f746g-disco"))
    with pytest.raises(EdgembError, match="no manifest.json"):
        plan_flash(tmp_path, load_target("nucleo-l4r5zi"))


def test_cli_dry_run_prints_commands(tmp_path) -> None:
    d = _board_build(tmp_path, "nucleo-l4r5zi")
    res = CliRunner().invoke(main, ["flash", str(d), "--probe", "stlink", "--dry-run"],
                             catch_exceptions=False)
    assert res.exit_code == 0
    lines = res.output.strip().splitlines()
    assert lines[0].startswith("arm-none-eabi-objcopy -O binary ")
    assert lines[1].startswith("st-flash --reset write ") and lines[1].endswith(" 0x8000000")
    assert not (d / "firmware.bin").exists()


@pytest.mark.needs("qemu-system-arm")
def test_emulated_flash_boots_and_checks_hash() -> None:
    from bench_builds import TARGETS, build_dir

    d = build_dir(TARGETS[0])
    t = load_target(TARGETS[0])
    plan = plan_flash(d, t)
    assert plan.command[:3] == ["qemu-system-arm", "-M", "mps2-an386"]
    man = json.loads((d / "manifest.json").read_text())
    res = flash(plan, t, man["model_hash"])
    assert res["model_hash"] == man["model_hash"] and res["layers"] == len(man["layers"])
    with pytest.raises(EdgembError, match="device runs model"):
        flash(plan, t, "ab" * 32)
