"""Which tuning databases a Linux compile applies: the user's (`--tune-db DIR`) first, then
the one shipped in the package for the target (`assets/tune_db/<target>.json`, written by
`tools/tune_shipped.py` from an `edgemb tune --emulate` run over the zoo's workloads: per
kernel its structural hash, best trace and knobs, instruction counts); `--tune-db none`
applies neither."""
from __future__ import annotations

import os
from pathlib import Path

SHIPPED_ROOT = Path(__file__).resolve().parents[2] / "assets" / "tune_db"
NONE = "none"   # --tune-db none: the default schedules only


def shipped(target_name: str) -> Path | None:
    """The package's database for a target (None: none shipped)."""
    f = SHIPPED_ROOT / f"{target_name}.json"
    return f if f.is_file() else None


def resolve(target_name: str, tune_db: str | os.PathLike | None) -> list[tuple[str, Path]]:
    """[(label, directory)] in order of precedence (per kernel, the first with a record)."""
    if tune_db is not None and str(tune_db) == NONE:
        return []
    dbs = [] if tune_db is None else [(str(tune_db), Path(tune_db))]
    ship = shipped(target_name)
    return dbs + ([(f"shipped {target_name}", ship)] if ship is not None else [])
