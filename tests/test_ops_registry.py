"""The op registry (quant/ops): typed attributes, OPS.md's rules in qgraph.validate, and
the MCU kernel descriptors against the C prototypes they describe."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import qgraph_builders as qb

from edgemobilenet.backends.mcu import kernel_check
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import ops
from edgemobilenet.quant.qgraph import validate

KERNELS_H = Path(kernel_check.KERNEL_DIR) / "include" / "emb_kernels.h"


def test_attrs_are_typed_with_defaults():
    g = qb.conv2d(np.random.default_rng(0))
    node = g.nodes[0]
    node.attrs = {"groups": 1}
    a = ops.attrs_of(node)
    assert a.stride == (1, 1) and a.padding == (0, 0, 0, 0) and (a.act_min, a.act_max) == (-128, 127)
    node.attrs = {"strides": [2, 2]}
    with pytest.raises(EdgembError, match=r"node 'conv_0' \(conv2d\): unknown attribute\(s\) strides"):
        ops.attrs_of(node)


@pytest.mark.parametrize("breakage, match", [
    ("resize_zp", "share scale and zero point"),
    ("pool_scale", "share scale and zero point"),
    ("softmax_scale", "scale 1/256"),
    ("concat_channels", "do not concatenate"),
    ("add_shape", "one shape"),
    ("add_left_shift", r"left_shift 23 is outside \[0, 22\]"),
    ("add_input_shift", "plus input shift 1 exceeds 22: the rescaled inputs' sum would overflow"),
    ("unknown_attr", "unknown attribute"),
])
def test_validate_checks_ops_md_rules(breakage, match):
    rng = np.random.default_rng(0)
    g = {"resize_zp": qb.resize_bilinear, "pool_scale": qb.avg_pool, "softmax_scale": qb.softmax,
         "concat_channels": qb.concat, "add_shape": qb.add, "add_left_shift": qb.add,
         "add_input_shift": qb.add, "unknown_attr": qb.mul}[breakage](rng)
    node = g.nodes[-1]
    out = g.tensors[node.outputs[0]]
    if breakage in ("resize_zp", "softmax_scale"):
        out.zero_point += 1
    elif breakage == "pool_scale":
        out.scale *= 2
    elif breakage == "concat_channels":
        out.shape = (*out.shape[:-1], out.shape[-1] + 1)
    elif breakage == "add_shape":
        g.tensors[node.inputs[1]].shape = (1, 3, 3, 8)
    elif breakage == "add_left_shift":
        node.attrs["left_shift"] = 23
    elif breakage == "add_input_shift":
        node.params["shift"][:2] = (0, 1)   # 22 + 1 > 22
        node.attrs["left_shift"] = 22
    else:
        node.attrs["act_mn"] = 0
    with pytest.raises(EdgembError, match=match):
        validate(g, "g")


def _prototypes() -> dict[str, int]:
    """C function -> number of parameters, from emb_kernels.h."""
    text = re.sub(r"/\*.*?\*/", "", KERNELS_H.read_text(), flags=re.S)
    return {m[1]: m[2].count(",") + 1
            for m in re.finditer(r"\bvoid\s+(emb_\w+)\s*\(([^)]*)\)\s*;", text)}


def test_mcu_descriptors_match_the_c_prototypes():
    protos = _prototypes()
    with_kernel = {n: s.mcu for n, s in ops.OPS.items() if s.mcu}
    assert set(with_kernel) == set(ops.OPS) - {"reshape"}
    for name, k in with_kernel.items():
        assert protos.get(k.fn) == len(k.args), (name, k.fn, protos.get(k.fn), len(k.args))


def test_codegen_and_harness_get_the_same_arguments():
    """codegen renders, and the harness encodes, the same values from one descriptor."""
    from edgemobilenet.backends.mcu import codegen, planner
    rng = np.random.default_rng(3)
    for name, build in qb.SINGLE_OP_BUILDERS.items():
        g = build(rng)
        node = g.nodes[-1]
        if node.op == "reshape":
            continue
        xs = [qb.sample_input(g, rng) if t == g.inputs[0] else None for t in node.inputs]
        in_t = [g.tensors[t] for t in node.inputs]
        case = kernel_check.case_from_node(node, in_t, g.tensors[node.outputs[0]], [
            x if x is not None else np.zeros(t.shape, np.int8) for x, t in zip(xs, in_t)])
        c = codegen._Emitter(g, planner.plan(g), "portable", "").body(len(g.nodes) - 1, node)
        structs = dict(re.findall(r"(\w+) = \{([^}]*)\};", c))
        first = next(line for line in c.splitlines() if "(" in line)   # call 0 (concat: input 0)
        call = re.sub(r"\(arena \+ \d+\)", "PTR", first)
        ints = []
        for arg in call[call.index("(") + 1:call.rindex(")")].split(", "):
            if re.fullmatch(r"-?\d+", arg):
                ints.append(int(arg))
            elif arg.startswith("&"):
                ints += [int(v) for v in structs[arg[1:]].split(",")]
        assert ints == case.ints, (name, c)


def test_every_op_has_a_tvm_lowering():
    from edgemobilenet.backends.tvm import relax_builder  # noqa: F401  (registers "tvm")
    missing = [n for n, s in ops.OPS.items() if "tvm" not in s.lowerings]
    assert not missing


def test_driver_dispatch_is_generated_from_the_descriptors():
    c = kernel_check.driver_dispatch_c()
    for name in kernel_check.MCU_OPS:
        k = ops.OPS[name].mcu
        assert f"/* {name} */" in c and f"{k.fn}(" in c
    assert f"KC_N_OPS {len(kernel_check.MCU_OPS)}" in c
