"""Processes that run our TVM modules get unpinned worker threads unless the user pins them."""
from __future__ import annotations

from pathlib import Path

from edgemobilenet.device import pi_emulator
from edgemobilenet.device.tvm_vm import runtime_env


def test_threads_unpinned_by_default(monkeypatch):
    monkeypatch.delenv("TVM_BIND_THREADS", raising=False)
    assert runtime_env(4) == {"TVM_BIND_THREADS": "0", "TVM_NUM_THREADS": "4"}
    assert runtime_env(None) == {"TVM_BIND_THREADS": "0"}


def test_users_pinning_wins(monkeypatch):
    monkeypatch.setenv("TVM_BIND_THREADS", "1")
    assert runtime_env(2)["TVM_BIND_THREADS"] == "1"


def test_emulated_board_gets_the_runtime_env(monkeypatch):
    monkeypatch.delenv("TVM_BIND_THREADS", raising=False)
    env = pi_emulator.python_env(Path("/nonexistent-root"), "cortex-a72", threads=3)
    assert env["TVM_BIND_THREADS"] == "0" and env["TVM_NUM_THREADS"] == "3"
