"""A Link over pyserial: a real port (`/dev/ttyACM0`) or any pyserial URL, such as QEMU's
UART socket (`socket://127.0.0.1:PORT`)."""
from __future__ import annotations

import re

import serial

from edgemobilenet.errors import EdgembError


class SerialLink:
    """Byte pipe with one-line errors for a missing, busy or vanished port."""

    def __init__(self, url: str, baud: int = 115200, diagnose=None) -> None:
        self.name = url
        self._diagnose = diagnose
        try:
            self.port = serial.serial_for_url(url, baudrate=baud, timeout=0.05,
                                              write_timeout=10, exclusive=True)
        except serial.SerialException as e:
            raise EdgembError(f"{url}: cannot open: {_reason(e)}") from None
        except ValueError as e:
            raise EdgembError(f"{url}: bad port or URL: {e}") from None

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as e:
            raise self._lost(e) from None

    def read(self, timeout: float) -> bytes:
        try:
            self.port.timeout = max(timeout, 0.001)
            return self.port.read(max(1, self.port.in_waiting))
        except (serial.SerialException, OSError) as e:
            raise self._lost(e) from None

    def diagnose(self, wait: float = 0.0) -> str:
        """"" while the far end is fine, else why it is gone (waits up to `wait` s to know)."""
        return self._diagnose(wait) if self._diagnose else ""

    def _lost(self, e: Exception) -> EdgembError:
        why = self.diagnose(wait=2.0) or f"connection lost: {_reason(e)}"
        return EdgembError(f"{self.name}: {why}")

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> SerialLink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _reason(e: Exception) -> str:
    text = str(e)
    low = text.lower()
    if "connection refused" in low:
        return "connection refused (nothing listening)"
    if "no such file" in low or re.search(r"errno 2\b", low):
        return "no such port"
    if "busy" in low or "temporarily unavailable" in low or re.search(r"errno 11\b", low):
        return "port is busy (another program has it open)"
    if "permission denied" in low:
        return "permission denied (add yourself to the dialout group)"
    return text.splitlines()[0] if text else type(e).__name__
