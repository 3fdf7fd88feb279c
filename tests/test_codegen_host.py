"""Generated model.c built natively (gcc, portable kernels, ASan + UBSan) equals the reference."""
from __future__ import annotations


import numpy as np
import pytest

from edgemobilenet.backends.mcu import codegen, debug, host, planner
from edgemobilenet.quant import reference
from qgraph_builders import SINGLE_OP_BUILDERS, GraphBuilder, mobilenet_v2, sample_input

pytestmark = pytest.mark.needs("gcc")


@pytest.fixture(scope="module")
def kernel_objs(tmp_path_factory):
    return host.build_kernel_objects(tmp_path_factory.mktemp("host_kernels"))


def _check(g, tmp_path, objs, n_inputs: int = 2, seed: int = 1) -> None:
    exe = host.build_host(g, tmp_path, objects=objs)
    rng = np.random.default_rng(seed)
    for _ in range(n_inputs):
        x = sample_input(g, rng)
        want = reference.run(g, x)[g.outputs[0]]
        got = host.run_host(exe, g, x)
        if not np.array_equal(got, want):
            layers = host.run_host_layers(exe, g, x)
            pytest.fail(str(debug.first_mismatch(g, x, lambda i: layers[i])))


@pytest.mark.parametrize("case", sorted(SINGLE_OP_BUILDERS))
def test_single_op_graph_matches_reference(case: str, tmp_path, kernel_objs) -> None:
    _check(SINGLE_OP_BUILDERS[case](np.random.default_rng(0)), tmp_path, kernel_objs)


def test_lut_in_place_and_residual_chain(tmp_path, kernel_objs) -> None:
    """conv -> h-swish (aliased in place) -> conv -> add skip -> avg_pool -> fc -> softmax."""
    b = GraphBuilder(np.random.default_rng(3), (1, 8, 8, 8), 0.05, -4)
    x = b.conv2d("input", 16, 3, 1, act="none")
    h = b.lut(x, "hardswish")
    y = b.add(h, b.conv2d(h, 16, 1))
    f = b.reshape(b.avg_pool(y), (1, 16))
    g = b.build(b.softmax(b.fully_connected(f, 10)))
    p = planner.plan(g)
    lut_node = next(n for n in g.nodes if n.op == "lut")
    assert p.offsets[lut_node.inputs[0]] == p.offsets[lut_node.outputs[0]]
    _check(g, tmp_path, kernel_objs)


def test_mobilenet_v2_layers_match_reference(tmp_path, kernel_objs) -> None:
    g = mobilenet_v2(np.random.default_rng(0), width=0.35, resolution=32, num_classes=10)
    exe = host.build_host(g, tmp_path, objects=kernel_objs)
    x = sample_input(g, np.random.default_rng(5))
    layers = host.run_host_layers(exe, g, x)
    assert debug.first_mismatch(g, x, lambda i: layers[i]) is None
    assert np.array_equal(layers[-1], reference.run(g, x)[g.outputs[0]])


def test_debug_helper_names_the_first_bad_layer(tmp_path) -> None:
    g = mobilenet_v2(np.random.default_rng(0), width=0.35, resolution=32, num_classes=10)
    x = sample_input(g, np.random.default_rng(5))
    ref = reference.run(g, x, keep_all=True)
    outs = [ref[n.outputs[0]].copy() for n in g.nodes]
    outs[7].flat[3] ^= 1
    m = debug.first_mismatch(g, x, lambda i: outs[i])
    assert m is not None and m.index == 7 and m.name == g.nodes[7].name and m.differing == 1


def test_generated_source_has_one_call_per_layer(tmp_path) -> None:
    g = SINGLE_OP_BUILDERS["add"](np.random.default_rng(0))
    table = codegen.generate_model(g, planner.plan(g), "portable", tmp_path)
    src = (tmp_path / "model.c").read_text()
    assert src.count("emb_conv2d_s8(") == 1 and src.count("emb_add_s8(") == 1
    assert g.digest() in (tmp_path / "model.h").read_text()
    assert [r.name for r in table] == [n.name for n in g.nodes]
    assert table[0].macs == int(np.prod(g.tensor(g.nodes[0].outputs[0]).shape)) * 8


@pytest.mark.parametrize("arch", ["mobilenet_v3_small"])
def test_quantized_zoo_model_matches_reference(arch: str, tmp_path, kernel_objs) -> None:
    """A real zoo network (h-swish LUTs, squeeze-excite mul, residual adds) end to end."""
    from edgemobilenet.model_source import ModelOptions, load_qgraph

    g = load_qgraph(arch, ModelOptions(width=0.35, resolution=32, num_classes=10,
                                       calib=None, calib_count=4))
    assert {"lut", "mul", "add"} <= {n.op for n in g.nodes}
    exe = host.build_host(g, tmp_path, objects=kernel_objs)
    x = sample_input(g, np.random.default_rng(2))
    layers = host.run_host_layers(exe, g, x)
    assert debug.first_mismatch(g, x, lambda i: layers[i]) is None
