"""In-place depthwise (backends/mcu/inplace.py + planner.py): output over its input, the
scratch a buffer of its own at that layer, modes fast / min / auto; the portable build under
ASan + UBSan equals the reference with bands of every width and odd strides / kernels."""
from __future__ import annotations

import numpy as np
import pytest
from qgraph_builders import depthwise, mobilenet_v2, sample_input

from edgemobilenet.backends.mcu import host, inplace, planner
from edgemobilenet.quant import reference
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import ops


def _live_overlap(plan: planner.MemoryPlan, step: int, lo: int, hi: int) -> list[str]:
    """Buffers other than the scratch of `step` holding bytes in [lo, hi) at `step`."""
    return [b.tensors[0] for b in plan.buffers if b.start <= step <= b.end
            and b.offset < hi and lo < b.offset + b.size
            and not (b.tensors[0].endswith(":scratch") and b.start == step)]


def test_in_place_plans_share_the_input_and_keep_the_scratch_apart() -> None:
    g = mobilenet_v2(np.random.default_rng(0), width=0.35, resolution=32, num_classes=10)
    fast = planner.plan(g, 4, inplace.choose(g, "fast", 4))
    least = planner.plan(g, 4, inplace.choose(g, "min", 4))
    auto = planner.plan(g, 4, inplace.choose(g, "auto", 4))
    assert not fast.inplace and len(least.inplace) >= 5
    assert least.arena_bytes < fast.arena_bytes and least.lower_bound < fast.lower_bound
    assert auto.arena_bytes == least.arena_bytes and 0 < len(auto.inplace) <= len(least.inplace)
    for p in (least, auto):
        assert p.lower_bound <= p.arena_bytes
        for i, (band, scratch) in p.inplace.items():
            n = g.nodes[i]
            assert p.offsets[n.inputs[0]] == p.offsets[n.outputs[0]]
            _, oh, ow, c = g.tensor(n.outputs[0]).shape
            assert scratch == inplace.scratch_rows(g, i, band) * ow * c
            s = p.scratch[i]
            assert not _live_overlap(p, i, s, s + scratch)
            # stride 1, pad 1: a band holds at most one row more than it computes
            if ops.attrs_of(n).stride[0] == 1:
                assert inplace.scratch_rows(g, i, band) <= min(band + 1, oh)
            assert inplace.scratch_rows(g, i, 1) <= 2


def test_bad_memory_mode_is_refused() -> None:
    g = mobilenet_v2(np.random.default_rng(0), width=0.35, resolution=32, num_classes=10)
    with pytest.raises(EdgembError, match="memory mode"):
        inplace.choose(g, "tiny", 4)


@pytest.fixture(scope="module")
def kernel_objs(tmp_path_factory):
    return host.build_kernel_objects(tmp_path_factory.mktemp("host_kernels"))


@pytest.mark.needs("gcc")
@pytest.mark.parametrize("kernel,stride,h", [(3, 1, 9), (3, 2, 10), (5, 2, 9), (5, 1, 7)])
def test_in_place_depthwise_on_the_host_matches_reference(kernel, stride, h, tmp_path,
                                                         kernel_objs) -> None:
    g = depthwise(np.random.default_rng(kernel + stride), h=h, w=h + 2, c=12, kernel=kernel,
                  stride=stride)
    assert inplace.eligible(g) == [0]
    x = sample_input(g, np.random.default_rng(2))
    want = reference.run(g, x)[g.outputs[0]]
    for band in (1, 2, 3, h):
        exe = host.build_host(g, tmp_path / f"b{band}", objects=kernel_objs,
                              inplace={0: inplace.layer(g, 0, band)})
        assert np.array_equal(host.run_host(exe, g, x), want), f"band {band}"
