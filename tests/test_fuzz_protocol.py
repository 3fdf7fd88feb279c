"""libFuzzer (ASan + UBSan) over the device-side protocol parser and dispatcher, seeded with
valid frames of every command; bounded in time; any crash or sanitizer report fails."""
from __future__ import annotations

import os
import struct
import subprocess

from edgemobilenet.device import protocol as P
from edgemobilenet.targets import FIRMWARE_DIR

FUZZ_SECONDS = 15


def _seeds() -> list[bytes]:
    chunk = lambda off, n: struct.pack("<IH", off, n)  # noqa: E731
    frames = [
        P.encode_frame(P.CMD_INFO, 1),
        P.encode_frame(P.CMD_PING, 2, b"hello"),
        P.encode_frame(P.CMD_SET_INPUT, 3, struct.pack("<I", 0) + bytes(504))
        + P.encode_frame(P.CMD_SET_INPUT, 4, struct.pack("<I", 504) + bytes(264)),
        P.encode_frame(P.CMD_INVOKE, 5),
        P.encode_frame(P.CMD_GET_OUTPUT, 6, chunk(0, 100)),
        P.encode_frame(P.CMD_GET_LAYER_PROFILE, 7, struct.pack("<I", 0)),
        P.encode_frame(P.CMD_GET_TENSOR, 8, struct.pack("<i", 1) + chunk(0, 500)),
        P.encode_frame(P.CMD_GET_STACK, 9),
        P.encode_frame(P.CMD_BATCH, 10, struct.pack("<I", 2) + b"in\0out\0"),
    ]
    return frames + [b"".join(frames)]


def test_protocol_fuzz_no_crash(tmp_path):
    build = tmp_path / "build"
    subprocess.run(["make", "-s", "-C", str(FIRMWARE_DIR / "fuzz"), f"BUILD={build}"],
                   check=True, capture_output=True)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(_seeds()):
        (corpus / f"seed{i}").write_bytes(seed)
    r = subprocess.run([str(build / "fuzz_protocol"), f"-max_total_time={FUZZ_SECONDS}",
                        "-max_len=4096", "-rss_limit_mb=4096", f"-artifact_prefix={tmp_path}/",
                        str(corpus)], capture_output=True, text=True, timeout=FUZZ_SECONDS + 60,
                       # ASan's quarantine, not our heap (24 MB live), dominates RSS
                       env={**os.environ, "ASAN_OPTIONS": "quarantine_size_mb=32"})
    log = r.stderr[-3000:]
    assert r.returncode == 0, log
    assert "Done" in r.stderr and "ERROR" not in r.stderr and "runtime error" not in r.stderr
    assert not list(tmp_path.glob("crash-*"))
