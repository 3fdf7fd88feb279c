"""Reading a build directory written by `edgemb compile` (manifest.json beside the artefacts)."""
from __future__ import annotations

import json
from pathlib import Path

from edgemobilenet.errors import EdgembError


def read_manifest(build_dir: str | Path, required: tuple[str, ...] = ("target", "model_hash")
                  ) -> tuple[Path, dict]:
    """(directory, manifest) with one-line errors for a missing or foreign manifest."""
    d = Path(build_dir)
    man = d / "manifest.json"
    if not man.is_file():
        raise EdgembError(f"{d}: no manifest.json (not an edgemb build directory: run "
                          "`edgemb compile` first)")
    try:
        doc = json.loads(man.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EdgembError(f"{man}: not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise EdgembError(f"{man}: not an edgemb build manifest")
    for key in required:
        if key not in doc:
            raise EdgembError(f"{man}: no '{key}' field (not an edgemb build manifest)")
    return d, doc
