"""Names of our register-tile tensor intrinsics.

A name is `edgemb_<kind>_<pixels>x<channels>x<kblocks>` (kind `neon`, `sdot` or `avx2`;
`requant`, the requantize tile of `intrin_requant`, puts its residual-add variant there:
0 none).
The builders (`intrin_neon`, `intrin_avx2`, `intrin_requant`) name what they register with
`name`; a trace
read back from a tuning database names its intrinsics, and `ms_database` builds them
again from `kind` and `shape`.
"""
from __future__ import annotations

_PREFIX = "edgemb_"


def name(kind: str, pixels: int, channels: int, kblocks: int) -> str:
    """The intrinsic's registered name."""
    return f"{_PREFIX}{kind}_{pixels}x{channels}x{kblocks}"


def kind(intrin_name: str) -> str | None:
    """`neon`, `sdot`, `avx2` or `requant` for one of ours; None for TVM's own intrinsics."""
    if not intrin_name.startswith(_PREFIX):
        return None
    return intrin_name[len(_PREFIX):].split("_")[0]


def shape(intrin_name: str) -> tuple[int, int, int]:
    """(pixels, channels, kblocks) of one of ours."""
    pixels, channels, kblocks = (int(v) for v in intrin_name.rsplit("_", 1)[1].split("x"))
    return pixels, channels, kblocks
