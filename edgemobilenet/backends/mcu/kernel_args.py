"""A node's MCU kernel calls: its op's descriptor (quant/ops/mcu.py) with this backend's
weight packing. Shared by the code generator and the kernel test harness."""
from __future__ import annotations

from edgemobilenet.backends.mcu import packing
from edgemobilenet.errors import EdgembError
from edgemobilenet.quant import ops
from edgemobilenet.quant.ops.mcu import KernelContext, McuKernel, Values
from edgemobilenet.quant.qgraph import QNode, QTensor


def kernel(node: QNode) -> McuKernel:
    """The op's MCU kernel descriptor; EdgembError when the op has none."""
    s = ops.spec(node.op, f"layer '{node.name}'")
    if s.mcu is None:
        raise EdgembError(f"layer '{node.name}' ({node.op}): op has no MCU kernel")
    return s.mcu


def calls(node: QNode, in_tensors: list[QTensor], out_tensor: QTensor, variant: str,
          compact: bool = False) -> list[Values]:
    """Argument values of each kernel call `node` makes; weights packed for `variant`
    (`compact`: dsp pointwise weights kept int8, packing.py)."""
    ctx = KernelContext(
        node, ops.attrs_of(node), list(in_tensors), out_tensor,
        lambda w: packing.pack_weights(node, w, variant, compact), compact)
    values = kernel(node).calls(ctx)
    if node.op in packing.DEAD_CHANNEL_OPS:   # requantize with MBQM (OPS.md)
        for v in values:
            v["bias"], v["mult"], v["shift"] = packing.dead_channels(
                node.params["weight"], v["bias"], v["mult"], v["shift"])
    w = node.params.get("weight")
    if variant == "dsp" and node.op == "conv2d" and packing.is_w16(node, w, compact):
        for v in values:   # the S form's scaled channels (packing.w16_exponents)
            k = v["weight"].size // (2 * (-(-w.shape[0] // 2) * 2))
            a = ops.attrs_of(node)
            v["weight"] = packing.scale_w16(v["weight"], packing.w16_exponents(
                v["bias"], v["mult"], v["shift"], k, out_tensor.zero_point, a.act_min,
                a.act_max))
    if variant == "dsp" and packing.is_dw3(node, w):
        a = ops.attrs_of(node)
        for v in values:   # the S-form blocks' constants (packing.dw3_table)
            taps = v["weight"].reshape(3, 3, -1)
            v["weight"] = packing.with_dw3_table(taps, packing.dw3_table(
                taps, v["bias"], v["mult"], v["shift"], out_tensor.zero_point, a.act_min,
                a.act_max))
    return values
