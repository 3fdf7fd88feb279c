"""targets/*.toml: schema validation, loading, make variables, `edgemb targets`."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgemobilenet.cli import main
from edgemobilenet.errors import EdgembError
from edgemobilenet.targets import TARGETS_DIR, list_targets, load_target

EXPECTED = {"mps2-an386", "mps2-an500", "mps3-an547", "stm32f746g-disco", "nucleo-h743zi",
            "nucleo-l4r5zi"}


def test_shipped_targets_load_and_are_consistent():
    targets = {t.name: t for t in list_targets()}
    assert EXPECTED <= set(targets)
    for t in targets.values():
        if t.kind != "mcu":
            continue
        assert t.memory.flash_length <= t.flash_bytes and t.memory.ram_length <= t.sram_bytes
        assert (t.kernels == "mve") == t.features["mve"]
        assert (t.qemu is not None) == (t.flash.method == "qemu")
        assert t.timer.unit == ("instructions" if t.emulated else "cycles")
        mv = t.make_vars()
        assert mv["EMB_BOARD"] == t.board and int(mv["FLASH_ORIGIN"], 16) == t.memory.flash_origin
    assert targets["mps3-an547"].qemu.machine == "mps3-an547"
    assert targets["nucleo-h743zi"].clock_hz == 480_000_000
    assert targets["stm32f746g-disco"].sram_bytes == 320 * 1024


def _write(tmp_path: Path, text: str, name: str = "board-x") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    return p


def _edited(pattern: str, repl: str) -> str:
    text = (TARGETS_DIR / "mps2-an386.toml").read_text()
    text = text.replace('name = "mps2-an386"', 'name = "board-x"', 1)
    new, n = re.subn(pattern, repl, text, count=1, flags=re.M)
    assert n == 1
    return new


@pytest.mark.parametrize("pattern,repl,message", [
    (r"^clock_hz = .*$", "", "missing field 'clock_hz'"),
    (r"^clock_hz = .*$", 'clock_hz = "fast"', "field 'clock_hz' must be int, got str"),
    (r"^stack_bytes = .*$", "", "missing field 'memory.stack_bytes'"),
    (r"^kernels = .*$", 'kernels = "neon"', "field 'kernels' must be one of"),
    (r"^cpu = .*$", 'cpu = "cortex-m4"\nclok_hz = 1', "unknown field 'clok_hz'"),
    (r"^dsp = true$", "dsp = 1", "field 'features.dsp' must be bool"),
    (r"^board = .*$", 'board = "no-such-board"', "no firmware/boards/no-such-board"),
    (r"^base = .*$", "base = -4", "field 'uart.base' must not be negative"),
])
def test_bad_target_file_names_file_and_field(tmp_path, pattern, repl, message):
    p = _write(tmp_path, _edited(pattern, repl))
    with pytest.raises(EdgembError) as e:
        load_target(p)
    assert str(e.value).startswith(str(p)) and message in str(e.value)


def test_good_copy_loads_and_name_must_match_file(tmp_path):
    t = load_target(_write(tmp_path, _edited(r"^clock_hz = .*$", "clock_hz = 50_000_000")))
    assert t.clock_hz == 50_000_000 and t.emulated
    with pytest.raises(EdgembError, match="differs from the file name"):
        load_target(_write(tmp_path, _edited(r"^clock_hz", "clock_hz"), name="other"))


def test_linux_kind_needs_only_its_fields(tmp_path):
    text = ('name = "pi-x"\nkind = "linux"\ndescription = "a Pi"\ncpu = "cortex-a72"\n'
            'clock_hz = 1_500_000_000\nsram_bytes = 4_294_967_296\n'
            '[features]\nneon = true\n[tvm]\nmtriple = "aarch64-linux-gnu"\n')
    t = load_target(_write(tmp_path, text, "pi-x"))
    assert t.kind == "linux" and t.memory is None
    assert t.extra["tvm"]["mtriple"] == "aarch64-linux-gnu"
    with pytest.raises(EdgembError, match="has no firmware build"):
        t.make_vars()
    with pytest.raises(EdgembError, match="missing field 'sram_bytes'"):
        load_target(_write(tmp_path, text.replace("sram_bytes = 4_294_967_296\n", ""), "pi-x"))


def test_unknown_target_and_bad_toml(tmp_path):
    with pytest.raises(EdgembError, match="unknown.*mps2-an386"):
        load_target("no-such-target")
    with pytest.raises(EdgembError, match="not valid TOML"):
        load_target(_write(tmp_path, "name = ["))


def test_cli_targets_table_and_json():
    r = CliRunner().invoke(main, ["targets", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert EXPECTED <= {row["name"] for row in rows}
    an547 = next(row for row in rows if row["name"] == "mps3-an547")
    assert an547["emulated"] and an547["features"]["mve"] and an547["kernels"] == "mve"
    r = CliRunner().invoke(main, ["targets"])
    assert r.exit_code == 0 and "nucleo-h743zi" in r.output and "480" in r.output
