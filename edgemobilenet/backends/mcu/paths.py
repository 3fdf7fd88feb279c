"""Where the firmware sources live (copied into every build directory)."""
from __future__ import annotations

from pathlib import Path

FIRMWARE = Path(__file__).resolve().parents[3] / "firmware"
