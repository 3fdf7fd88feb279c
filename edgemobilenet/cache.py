"""Where edgemb keeps machine-local state: `~/.cache/edgemb` (`EDGEMB_CACHE` moves it)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("EDGEMB_CACHE", Path.home() / ".cache" / "edgemb"))


def log_file(name: str) -> Path:
    """A log file for a server edgemb starts (its directory is created)."""
    path = cache_dir() / "logs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
