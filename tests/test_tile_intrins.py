"""Register-tile intrinsics registered again from the names tuning records give them."""
from __future__ import annotations

import pytest
from tvm.s_tir import TensorIntrin

from edgemobilenet.backends.tvm import tile_intrins
from edgemobilenet.backends.tvm.ms_database import register_intrinsic


@pytest.mark.parametrize("kind,channels", [("neon", 4), ("sdot", 4), ("avx2", 16)])
def test_register_by_name(kind, channels):
    name = tile_intrins.name(kind, 3, channels, 5)   # a shape no default schedule uses
    assert tile_intrins.kind(name) == kind
    assert tile_intrins.shape(name) == (3, channels, 5)
    register_intrinsic(name)
    script = TensorIntrin.get(name).desc.script()
    assert f'C: T.Buffer((3, {channels}), "int32"' in script
    assert f"B: T.Buffer((5, {channels}, 4)" in script


def test_tvm_intrinsics_are_not_ours():
    assert tile_intrins.kind("dot_4x4_i8i8s32_neon") is None
    register_intrinsic("dot_4x4_i8i8s32_neon")   # TVM's own: nothing to do
