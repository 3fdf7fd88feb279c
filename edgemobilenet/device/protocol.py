"""Host side of the framed serial protocol (firmware/runtime/PROTOCOL.md).

Frame: A5 5A | len u16 LE | cmd u8 | seq u8 | payload[len] | CRC-16/CCITT-FALSE u16 LE over
len..payload. Replies carry cmd | 0x80 and the request's seq; errors carry cmd 0xFF and
payload (code u8, request cmd u8, ASCII message).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Protocol

from edgemobilenet.errors import EdgembError

SYNC = b"\xa5\x5a"
MAX_PAYLOAD = 512
OVERHEAD = 8
REPLY = 0x80
ERROR = 0xFF

CMD_PING, CMD_INFO, CMD_SET_INPUT, CMD_INVOKE, CMD_GET_OUTPUT = 0x00, 0x01, 0x02, 0x03, 0x04
CMD_GET_LAYER_PROFILE, CMD_GET_TENSOR, CMD_GET_STACK, CMD_BATCH = 0x05, 0x06, 0x07, 0x08
CMD_GET_POSTPROCESSED = 0x09

ERR_CRC, ERR_TOO_LONG, ERR_UNKNOWN_CMD, ERR_BAD_PAYLOAD = 1, 2, 3, 4
ERR_RANGE, ERR_ORDER, ERR_MODEL, ERR_UNSUPPORTED, ERR_HOST_IO = 5, 6, 7, 8, 9
ERROR_NAMES = {ERR_CRC: "bad CRC", ERR_TOO_LONG: "frame too long",
               ERR_UNKNOWN_CMD: "unknown command", ERR_BAD_PAYLOAD: "bad payload",
               ERR_RANGE: "out of range", ERR_ORDER: "out of order", ERR_MODEL: "model error",
               ERR_UNSUPPORTED: "unsupported", ERR_HOST_IO: "host file I/O"}


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)."""
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def encode_frame(cmd: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError("payload too long for a frame")
    body = len(payload).to_bytes(2, "little") + bytes([cmd, seq]) + payload
    return SYNC + body + crc16(body).to_bytes(2, "little")


@dataclass(frozen=True)
class Frame:
    cmd: int
    seq: int
    payload: bytes


class FrameReader:
    """Incremental decoder: skips garbage, drops frames with a bad CRC or length and
    resynchronises on the next sync pattern."""

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self.buf = bytearray()
        self.dropped = 0   # bytes discarded while hunting for frames

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        frames = []
        while True:
            i = self.buf.find(SYNC)
            if i < 0:
                keep = 1 if self.buf[-1:] == SYNC[:1] else 0
                self.dropped += len(self.buf) - keep
                del self.buf[:len(self.buf) - keep]
                return frames
            self.dropped += i
            del self.buf[:i]
            if len(self.buf) < 6:
                return frames
            n = int.from_bytes(self.buf[2:4], "little")
            if n > self.max_payload:
                self._skip()
                continue
            if len(self.buf) < n + OVERHEAD:
                return frames
            body = bytes(self.buf[2:6 + n])
            if crc16(body) != int.from_bytes(self.buf[6 + n:8 + n], "little"):
                self._skip()
                continue
            frames.append(Frame(body[2], body[3], body[4:]))
            del self.buf[:n + OVERHEAD]

    def _skip(self) -> None:
        self.dropped += 1
        del self.buf[:1]


class Link(Protocol):
    """A byte pipe: a serial port or QEMU's UART socket."""

    name: str

    def write(self, data: bytes) -> None: ...
    def read(self, timeout: float) -> bytes: ...   # whatever arrived within timeout
    def diagnose(self, wait: float = 0.0) -> str: ...  # "" or why the far end went away
    def close(self) -> None: ...


class DeviceError(EdgembError):
    """The device answered with an error frame."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


DRAIN_MAX_BYTES = 1 << 16   # a device that never stops talking still lets a request go out


class Session:
    """Request/reply over a Link: sequence numbers, timeouts, bounded retries, resync.

    A reply is taken only if it answers this request: its seq, and the request's cmd (cmd |
    0x80, or the request cmd an error frame echoes). Whatever arrived before the request
    was sent is stale (replies and errors for earlier or foreign frames) and is dropped."""

    def __init__(self, link: Link, timeout: float = 5.0, retries: int = 3) -> None:
        self.link = link
        self.timeout = timeout
        self.retries = retries
        self.reader = FrameReader()
        self.seq = random.randrange(256)
        self.resyncs = 0   # retries done so far (for tests and reports)
        self.stale = 0     # frames dropped as not answering the request in flight

    def request(self, cmd: int, payload: bytes = b"", timeout: float | None = None) -> bytes:
        """Send one command and return the reply payload. Raises DeviceError for an error
        frame and EdgembError when the device stays silent after all retries."""
        self.seq = (self.seq + 1) & 0xFF
        frame = encode_frame(cmd, self.seq, payload)
        wait = self.timeout if timeout is None else timeout
        for attempt in range(self.retries + 1):
            if why := self.link.diagnose():
                raise EdgembError(f"{self.link.name}: {why}")
            if attempt:
                self.resyncs += 1
                self._flush()
            else:
                self._drain()
            self.link.write(frame)
            reply = self._await(cmd, wait)
            if reply is None:
                continue
            if reply.cmd == ERROR:
                code = reply.payload[0] if reply.payload else 0
                if code in (ERR_CRC, ERR_TOO_LONG):   # the line garbled our frame: resend
                    continue
                msg = reply.payload[2:].decode("ascii", "replace")
                raise DeviceError(f"{self.link.name}: device error "
                                  f"({ERROR_NAMES.get(code, code)}): {msg}", code)
            return reply.payload
        why = self.link.diagnose()
        raise EdgembError(f"{self.link.name}: device did not answer command 0x{cmd:02x} "
                          f"after {self.retries + 1} tries" + (f" ({why})" if why else ""))

    def _answers(self, f: Frame, cmd: int) -> bool:
        """`f` is the reply, or the error frame, for the request (cmd, self.seq)."""
        if f.seq != self.seq:
            return False
        return f.cmd == cmd | REPLY or (f.cmd == ERROR and len(f.payload) >= 2
                                        and f.payload[1] == cmd)

    def _await(self, cmd: int, timeout: float) -> Frame | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            for f in self.reader.feed(self.link.read(min(left, 0.05))):
                if self._answers(f, cmd):
                    return f
                self.stale += 1
            if self.link.diagnose():
                return None
        return None

    def _drain(self) -> None:
        """Drop what is already waiting (stale replies and error frames, partial frames)
        before a new request goes out."""
        got = 0
        while got < DRAIN_MAX_BYTES and (data := self.link.read(0.0)):
            got += len(data)
            self.stale += len(self.reader.feed(data))
        self.reader = FrameReader()

    def _flush(self) -> None:
        """Bring the device parser back to hunting for a sync: enough zero bytes to end
        any frame it is in the middle of; then drop whatever it answers."""
        self.link.write(bytes(MAX_PAYLOAD + OVERHEAD))
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            self.link.read(0.05)
        self.reader = FrameReader()
