"""Host side of the serial protocol without a device: CRC, framing, resync, port errors,
a silent device (a real socket that never answers)."""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from edgemobilenet.device import protocol as P
from edgemobilenet.device.serial_link import SerialLink
from edgemobilenet.errors import EdgembError


def test_crc16_ccitt_false_check_value():
    assert P.crc16(b"123456789") == 0x29B1     # the catalogue's check value
    assert P.crc16(b"") == 0xFFFF


def test_frame_layout():
    f = P.encode_frame(0x02, 7, b"\x01\x02\x03")
    assert f[:2] == b"\xa5\x5a" and f[2:4] == b"\x03\x00" and f[4] == 0x02 and f[5] == 7
    assert int.from_bytes(f[-2:], "little") == P.crc16(f[2:-2]) and len(f) == 3 + P.OVERHEAD


def test_reader_bytewise_with_garbage_and_split(rng):
    frames = [P.encode_frame(i, 200 + i, bytes(rng.integers(0, 256, i * 37, dtype="u1")))
              for i in range(6)]
    stream = b"\x00\xa5\xa5garbage" + frames[0] + b"\x5a\xa5" + b"".join(frames[1:]) + b"\xa5"
    r = P.FrameReader()
    got = [f for b in stream for f in r.feed(bytes([b]))]
    assert [(f.cmd, f.seq) for f in got] == [(i, 200 + i) for i in range(6)]
    assert got[5].payload == frames[5][6:-2]


def test_reader_drops_corrupt_and_oversized_frames_and_resyncs():
    good = P.encode_frame(1, 1, b"abc")
    bad = bytearray(P.encode_frame(1, 2, b"xyz"))
    bad[7] ^= 0x10                                   # payload bit flip: CRC fails
    huge = b"\xa5\x5a" + (P.MAX_PAYLOAD + 1).to_bytes(2, "little") + b"\x01\x03"
    truncated = P.encode_frame(1, 4, b"q" * 40)[:20]  # a frame cut short, then a good one
    r = P.FrameReader()
    got = r.feed(bytes(bad) + huge + good + truncated + P.encode_frame(1, 5, b"ok"))
    assert [f.seq for f in got] == [1]          # frame 5 may still be payload of frame 4
    got += r.feed(bytes(40))                    # ... until frame 4's length is reached
    assert [f.seq for f in got] == [1, 5]
    assert r.dropped > 0


def test_missing_port_is_one_line_error():
    with pytest.raises(EdgembError, match=r"/dev/ttyEDGEMB9: cannot open: no such port"):
        SerialLink("/dev/ttyEDGEMB9")


def test_busy_port_is_one_line_error():
    master, slave = os.openpty()
    try:
        path = os.ttyname(slave)
        with SerialLink(path):
            with pytest.raises(EdgembError, match="busy"):
                SerialLink(path)
    finally:
        os.close(master)
        os.close(slave)


def test_nothing_listening_is_one_line_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EdgembError, match="connection refused"):
        SerialLink(f"socket://127.0.0.1:{port}")


def test_silent_device_times_out_after_bounded_retries():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    received = bytearray()

    def swallow():
        conn, _ = server.accept()
        conn.settimeout(5)
        with conn:
            try:
                while chunk := conn.recv(4096):
                    received.extend(chunk)
            except OSError:
                pass

    th = threading.Thread(target=swallow, daemon=True)
    th.start()
    link = SerialLink(f"socket://127.0.0.1:{server.getsockname()[1]}")
    s = P.Session(link, timeout=0.3, retries=2)
    t0 = time.monotonic()
    with pytest.raises(EdgembError, match="did not answer command 0x01 after 3 tries"):
        s.request(P.CMD_INFO)
    assert time.monotonic() - t0 < 5
    link.close()
    th.join(5)
    server.close()
    frame = P.encode_frame(P.CMD_INFO, s.seq)
    assert received.count(frame) == 3 and s.resyncs == 2   # sent 3 times, flushed between


def test_stale_replies_and_error_frames_are_not_taken_as_answers():
    """A device side that, besides each right answer, sends what a line after hostile frames
    carries: an error frame with the request's seq echoing another command, replies with
    other seqs, and (pending before the next request goes out) an error frame with the next
    seq echoing the next command. Every request gets its own answer."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    sent_stale = []

    def device():
        conn, _ = server.accept()
        conn.settimeout(5)
        reader = P.FrameReader()
        with conn:
            try:
                while chunk := conn.recv(4096):
                    for f in reader.feed(chunk):
                        nxt = (f.seq + 1) & 0xFF
                        stale = [P.encode_frame(P.ERROR, f.seq, bytes([P.ERR_UNKNOWN_CMD, 0x42])
                                                + b"unknown command"),
                                 P.encode_frame(f.cmd | P.REPLY, (f.seq - 1) & 0xFF, b"old"),
                                 P.encode_frame(P.CMD_INFO | P.REPLY, f.seq, b"other cmd")]
                        answer = P.encode_frame(f.cmd | P.REPLY, f.seq, f.payload[::-1])
                        ahead = P.encode_frame(P.ERROR, nxt, bytes([P.ERR_ORDER, P.CMD_PING])
                                               + b"meant for an earlier frame")
                        conn.sendall(b"".join(stale) + answer + b"\x00junk" + ahead)
                        sent_stale.append(len(stale) + 1)
            except OSError:
                pass

    th = threading.Thread(target=device, daemon=True)
    th.start()
    link = SerialLink(f"socket://127.0.0.1:{server.getsockname()[1]}")
    s = P.Session(link, timeout=2.0, retries=0)
    try:
        for i in range(40):
            payload = f"request {i}".encode()
            assert s.request(P.CMD_PING, payload) == payload[::-1]
            time.sleep(0.01)   # the frame meant for "an earlier request" is on the line
    finally:
        link.close()
        th.join(5)
        server.close()
    assert s.resyncs == 0 and len(sent_stale) == 40
    assert s.stale >= 3 * 40    # the ones before each answer; most `ahead` ones drained

