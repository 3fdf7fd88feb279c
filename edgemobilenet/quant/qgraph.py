"""QGraph: the int8 interchange between frontends and backends, and its `.qgraph` file format.

Plain data: dataclasses and numpy arrays. Op semantics are specified in `OPS.md` beside
this file; each op's attributes, parameters and rules are its entry in `ops/`. The file
is a zip (numpy `.npz`, no pickle) holding `graph.json` (structure, quantization, a sha256
per array) and one `.npy` member per parameter array.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import ops
from edgemobilenet.quant.ir import FORMAT, VERSION, QGraph, QNode, QTensor, structure

__all__ = ["QGraph", "QNode", "QTensor", "load", "save", "validate"]


def validate(g: QGraph, where: str = "qgraph") -> None:
    """Check structure and parameter shapes; raise EdgembError naming the node."""
    known = set(g.inputs)
    for t in g.inputs:
        if t not in g.tensors:
            raise EdgembError(f"{where}: graph input '{t}' has no tensor entry")
    for node in g.nodes:
        _validate_node(g, node, known, where)
        known.update(node.outputs)
    for t in g.outputs:
        if t not in known:
            raise EdgembError(f"{where}: graph output '{t}' is never produced")


def _validate_node(g: QGraph, node: QNode, known: set[str], where: str) -> None:
    """The structure every op shares, then the op's own rules (its registry entry)."""
    at = f"{where}: node '{node.name}' ({node.op})"
    s = ops.OPS.get(node.op)
    if s is None:
        raise EdgembError(f"{at}: unknown op")
    if s.n_inputs >= 0 and len(node.inputs) != s.n_inputs:
        raise EdgembError(f"{at}: expects {s.n_inputs} inputs, has {len(node.inputs)}")
    if len(node.outputs) != 1:
        raise EdgembError(f"{at}: expects 1 output, has {len(node.outputs)}")
    for t in node.inputs + node.outputs:
        if t not in g.tensors:
            raise EdgembError(f"{at}: tensor '{t}' is not declared")
    for t in node.inputs:
        if t not in known:
            raise EdgembError(f"{at}: input '{t}' is used before it is produced")
    for p in s.params:
        if p not in node.params:
            raise EdgembError(f"{at}: missing parameter '{p}'")
    for p, arr in node.params.items():
        want = ops.PARAM_DTYPES.get(p)
        if want and str(arr.dtype) != want:
            raise EdgembError(f"{at}: parameter '{p}' is {arr.dtype}, expected {want}")
    try:
        attrs = s.attrs_of(node)
    except EdgembError as e:
        raise EdgembError(f"{where}: {e}") from None
    problem = s.check(g, node, attrs) if s.check else None
    if problem:
        raise EdgembError(f"{at}: {problem}")


def save(g: QGraph, path: str | os.PathLike) -> None:
    """Write atomically (temp file, then rename)."""
    validate(g, str(path))
    path = Path(path)
    doc = structure(g)
    arrays: dict[str, np.ndarray] = {}
    for i, n in enumerate(g.nodes):
        for k, v in n.params.items():
            arr = np.ascontiguousarray(v)
            member = f"n{i}.{k}"
            arrays[member] = arr
            doc["nodes"][i]["params"][k]["sha256"] = hashlib.sha256(arr.tobytes()).hexdigest()
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("graph.json", json.dumps(doc, indent=1, sort_keys=True))
            for member, arr in arrays.items():
                buf = io.BytesIO()
                np.save(buf, arr, allow_pickle=False)
                z.writestr(member + ".npy", buf.getvalue())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike) -> QGraph:
    """Read and validate a `.qgraph`; any damage is an EdgembError naming the file."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            if bad:
                raise EdgembError(f"{path}: member '{bad}' is corrupt (CRC mismatch)")
            doc = json.loads(z.read("graph.json"))
            if doc.get("format") != FORMAT:
                raise EdgembError(f"{path}: not a QGraph file (format {doc.get('format')!r})")
            if doc.get("version") != VERSION:
                raise EdgembError(f"{path}: QGraph version {doc.get('version')} is not "
                                  f"supported (this edgemb reads version {VERSION})")
            g = _from_doc(doc, z, path)
    except FileNotFoundError:
        raise EdgembError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as e:
        raise EdgembError(f"{path}: truncated, corrupt or not a QGraph file ({e})") from None
    except OSError as e:  # damaged zip directory (bad offsets) or unreadable file
        raise EdgembError(f"{path}: cannot read QGraph file ({e})") from None
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as e:
        raise EdgembError(f"{path}: malformed QGraph ({type(e).__name__}: {e})") from None
    validate(g, str(path))
    return g


def _from_doc(doc: dict[str, Any], z: zipfile.ZipFile, path: Path) -> QGraph:
    tensors = {
        t["name"]: QTensor(str(t["name"]), tuple(int(s) for s in t["shape"]), str(t["dtype"]),
                           float(t["scale"]), int(t["zero_point"]))
        for t in doc["tensors"]
    }
    nodes = []
    for i, n in enumerate(doc["nodes"]):
        params = {}
        for k, spec in n["params"].items():
            arr = np.load(io.BytesIO(z.read(f"n{i}.{k}.npy")), allow_pickle=False)
            if list(arr.shape) != spec["shape"] or str(arr.dtype) != spec["dtype"]:
                raise EdgembError(f"{path}: node '{n['name']}' parameter '{k}' has shape "
                                  f"{arr.shape} {arr.dtype}, header says {spec['shape']} "
                                  f"{spec['dtype']}")
            if hashlib.sha256(arr.tobytes()).hexdigest() != spec["sha256"]:
                raise EdgembError(f"{path}: node '{n['name']}' parameter '{k}' fails its "
                                  f"checksum (file was modified)")
            params[k] = arr
        nodes.append(QNode(str(n["name"]), str(n["op"]), list(n["inputs"]),
                           list(n["outputs"]), dict(n["attrs"]), params))
    return QGraph(tensors, nodes, list(doc["inputs"]), list(doc["outputs"]),
                  dict(doc.get("meta", {})))
