"""In-place depthwise (`--memory`, backends/mcu/inplace.py): firmware whose depthwise layers
write over their own input equals the numpy reference bit for bit in QEMU, with one-row
bands and wider ones, on every kernel variant."""
from __future__ import annotations

from functools import lru_cache

import pytest

from firmware_check import assert_firmware_matches_reference

from edgemobilenet.backends.mcu import build, inplace, kernel_args
from edgemobilenet.bench import arena_timeline
from edgemobilenet.model_source import ModelOptions, load_qgraph
from edgemobilenet.targets import load_target

pytestmark = pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm")


@lru_cache(maxsize=None)
def _graph(arch: str):
    return load_qgraph(arch, ModelOptions(width=0.35, resolution=32, num_classes=10,
                                          calib=None, calib_count=4))


@pytest.mark.parametrize("target_name,arch,band", [
    ("mps2-an386", "mobilenet_v1", 1), ("mps2-an386", "mobilenet_v2", 3),
    ("mps3-an547", "mobilenet_v2", 2), ("mps2-an500", "mobilenet_v3_small", 2),
    ("mps2-an386", "mnasnet_b1", 3)])
def test_in_place_depthwise_matches_reference(target_name, arch, band, tmp_path,
                                              monkeypatch) -> None:
    g = _graph(arch)
    every = {i: inplace.layer(g, i, band) for i in inplace.eligible(g)}
    monkeypatch.setattr(inplace, "choose", lambda *_: every)
    target = load_target(target_name)
    doc = build.compile_model(g, target, tmp_path / "b")
    assert len(doc["in_place_layers"]) == len(every) >= 5
    rows = [r for r in doc["layers"] if r["in_place"]]
    assert all(r["in_place"]["band_rows"] == band for r in rows)
    timeline = arena_timeline(doc)["buffers"]
    assert sum(b["name"].endswith(" scratch") for b in timeline) == len(every)
    assert_firmware_matches_reference(g, target, tmp_path / "b", n_inputs=2)


class _HandAsExternal:
    """A selection that runs `layer` through the hand-written kernel as an external call
    (writing a separate output, as a TVM kernel does)."""

    def __init__(self, g, layer: int, variant: str):
        self.objects, self.calls = [], {layer: self}
        self.g, self.node, self.variant = g, g.nodes[layer], variant

    def c_prototype(self) -> str:
        return ""

    def c_body(self, prefix, const, ptr) -> str:
        n = self.node
        values = kernel_args.calls(n, [self.g.tensor(t) for t in n.inputs],
                                   self.g.tensor(n.outputs[0]), self.variant)[0]
        return kernel_args.kernel(n).render(
            values, input_ptr=lambda j: ptr(n.inputs[j]), out_ptr=ptr(n.outputs[0]),
            const=lambda a, arr: const(a.ctype, f"{prefix}_{a.name}", arr), local=prefix)

    def manifest_rows(self):
        return {}


def test_layers_taken_by_external_kernels_do_not_run_in_place(tmp_path) -> None:
    g = _graph("mobilenet_v2")
    target = load_target("mps2-an386")
    first = inplace.eligible(g)[0]
    doc = build.compile_model(g, target, tmp_path / "b", memory="min",
                              kernels=lambda *_: _HandAsExternal(g, first, "dsp"))
    assert g.nodes[first].name not in doc["in_place_layers"]
    assert len(doc["in_place_layers"]) == len(inplace.eligible(g)) - 1
    assert_firmware_matches_reference(g, target, tmp_path / "b", n_inputs=1)
