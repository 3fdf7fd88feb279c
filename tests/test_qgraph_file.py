"""`.qgraph` save/load: exact round trip, and every kind of damage is an EdgembError naming the file."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import qgraph_builders as qb
from corruption import byte_flips_caught

from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import qgraph
from edgemobilenet.quant.reference import run


@pytest.fixture(scope="module")
def graph() -> qgraph.QGraph:
    """Several ops and every parameter kind (weight, bias, multiplier, shift, table, w_scale)."""
    rng = np.random.default_rng(3)
    b = qb.GraphBuilder(rng, (1, 6, 6, 4), 0.05, -3)
    x = b.conv2d("input", 8, 3, 2, act="relu6")
    x = b.add(x, b.conv2d(x, 8, 1))
    x = b.lut(x, "hardswish")
    x = b.reshape(b.avg_pool(x), (1, 8))
    return b.build(b.softmax(b.fully_connected(x, 5)), {"arch": "test", "note": "ünïcode"})


@pytest.fixture
def saved(graph, tmp_path) -> Path:
    path = tmp_path / "m.qgraph"
    qgraph.save(graph, path)
    return path


def _rewrite(src: Path, dst: Path, edit) -> None:
    """Copy a zip member by member; `edit(name, data)` returns new bytes or None to drop."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = edit(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)


def test_round_trip_is_exact(graph, saved, rng):
    g2 = qgraph.load(saved)
    assert g2.digest() == graph.digest()
    assert g2.meta == graph.meta and g2.inputs == graph.inputs and g2.outputs == graph.outputs
    assert g2.tensors == graph.tensors
    for a, b in zip(graph.nodes, g2.nodes):
        assert (a.name, a.op, a.inputs, a.outputs, a.attrs) == (b.name, b.op, b.inputs, b.outputs, b.attrs)
        assert a.params.keys() == b.params.keys()
        for k in a.params:
            assert a.params[k].dtype == b.params[k].dtype
            np.testing.assert_array_equal(a.params[k], b.params[k])
    x = qb.sample_input(graph, rng)
    np.testing.assert_array_equal(run(graph, x)[graph.outputs[0]], run(g2, x)[g2.outputs[0]])
    assert not list(saved.parent.glob("*.tmp"))


def test_digest_changes_with_any_weight(graph):
    g = qgraph.QGraph(graph.tensors, [qgraph.QNode(n.name, n.op, n.inputs, n.outputs, n.attrs,
                                                   {k: v.copy() for k, v in n.params.items()})
                                      for n in graph.nodes], graph.inputs, graph.outputs, graph.meta)
    assert g.digest() == graph.digest()
    g.nodes[0].params["weight"].flat[5] ^= 1
    assert g.digest() != graph.digest()


def _load_error(path: Path) -> str:
    with pytest.raises(EdgembError) as e:
        qgraph.load(path)
    msg = str(e.value)
    assert str(path) in msg and "\n" not in msg
    return msg


def test_truncated(saved):
    data = saved.read_bytes()
    for n in (len(data) // 2, len(data) - 30, 10):
        saved.write_bytes(data[:n])
        _load_error(saved)


def test_flipped_byte_in_array_member(saved):
    """Damage inside a compressed array member: caught by the zip CRC (or inflate) check."""
    with zipfile.ZipFile(saved) as z:
        info = z.getinfo("n0.weight.npy")
    data = bytearray(saved.read_bytes())
    header_len = 30 + len(info.filename.encode()) + len(info.extra)
    pos = info.header_offset + header_len + info.compress_size // 2
    data[pos] ^= 0x5A
    saved.write_bytes(bytes(data))
    _load_error(saved)


def test_modified_array_fails_checksum(saved, tmp_path):
    """A re-zipped file with valid CRCs but a changed weight: caught by the sha256 in the header."""
    def edit(name, data):
        if name == "n0.weight.npy":
            data = bytearray(data)
            data[-1] ^= 1
            return bytes(data)
        return data
    bad = tmp_path / "bad.qgraph"
    _rewrite(saved, bad, edit)
    assert "checksum" in _load_error(bad)


def test_wrong_version(saved, tmp_path):
    def edit(name, data):
        if name == "graph.json":
            doc = json.loads(data)
            doc["version"] = qgraph.VERSION + 1
            return json.dumps(doc).encode()
        return data
    bad = tmp_path / "v2.qgraph"
    _rewrite(saved, bad, edit)
    assert "version" in _load_error(bad)


def test_not_a_zip(tmp_path):
    bad = tmp_path / "text.qgraph"
    bad.write_text("definitely not a zip file\n" * 20)
    _load_error(bad)
    _load_error(tmp_path / "missing.qgraph")


def test_missing_member(saved, tmp_path):
    bad = tmp_path / "missing_member.qgraph"
    _rewrite(saved, bad, lambda name, data: None if name == "n1.bias.npy" else data)
    _load_error(bad)
    bad2 = tmp_path / "no_json.qgraph"
    _rewrite(saved, bad2, lambda name, data: None if name == "graph.json" else data)
    _load_error(bad2)


def test_pickled_array_is_refused(saved, tmp_path):
    """An object array member (needs pickle) must not load."""
    import io

    def edit(name, data):
        if name == "n0.bias.npy":
            buf = io.BytesIO()
            np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
            return buf.getvalue()
        return data
    bad = tmp_path / "pickle.qgraph"
    _rewrite(saved, bad, edit)
    _load_error(bad)


def test_structural_damage_names_the_node(saved, tmp_path):
    def edit(name, data):
        if name == "graph.json":
            doc = json.loads(data)
            doc["nodes"][1]["op"] = "conv3d"
            return json.dumps(doc).encode()
        return data
    bad = tmp_path / "op.qgraph"
    _rewrite(saved, bad, edit)
    msg = _load_error(bad)
    assert "conv3d" in msg and "unknown op" in msg


def test_every_single_byte_flip_is_caught_or_harmless(tmp_path):
    """Flip every other byte of a small file in turn: load either raises EdgembError or
    returns the identical graph (bytes the zip format ignores, such as timestamps)."""
    g = qb.conv2d(np.random.default_rng(0), h=3, w=3, c_in=2, c_out=2, kernel=1)
    path = tmp_path / "tiny.qgraph"
    qgraph.save(g, path)
    size = path.stat().st_size

    def load(p: Path) -> None:
        assert qgraph.load(p).digest() == g.digest(), "silently different graph"
    assert byte_flips_caught(path, load, step=2) > size // 4
