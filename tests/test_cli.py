"""The `edgemb` front: every listed command resolves to its module's command, and the
top-level help imports neither torch nor TVM (commands load lazily)."""
from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from edgemobilenet.cli import COMMANDS, main


def test_every_listed_command_resolves_to_its_module():
    for name in COMMANDS:
        cmd = main.get_command(None, name)
        assert cmd is not None and cmd.name == name


def test_help_lists_the_commands_without_importing_torch_or_tvm():
    code = ("import sys; from click.testing import CliRunner; from edgemobilenet.cli import main;"
            "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0, r.output;"
            "print(r.output); print('heavy:', sorted(m for m in ('torch', 'tvm') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert all(f"  {name} " in out for name in COMMANDS)
    assert "heavy: []" in out


def test_unknown_command_is_a_usage_error():
    r = CliRunner().invoke(main, ["frobnicate"])
    assert r.exit_code == 2 and "No such command" in r.output
