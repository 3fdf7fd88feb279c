"""The QGraph op registry (registry.py) and one module per op family registering its entry.

Import `OPS`, `spec`, `attrs_of`, `activation`, `register_lowering`, `lowering` from here:
importing this package registers every op. README.md beside this file says how to add an op.
"""
from edgemobilenet.quant.ops.registry import (OPS, PARAM_DTYPES, Activation, OpSpec, activation,
                                              attrs_of, lowering, register, register_lowering,
                                              spec)
from edgemobilenet.quant.ops import (avg_pool, conv2d, elementwise, fully_connected,  # noqa: F401,E402
                                     pooling, resize, shape_ops, softmax)

__all__ = ["OPS", "PARAM_DTYPES", "Activation", "OpSpec", "activation", "attrs_of", "lowering",
           "register", "register_lowering", "spec"]
