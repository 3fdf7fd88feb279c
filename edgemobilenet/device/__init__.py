"""Talking to devices: the serial protocol (protocol.py, mcu.py), serial and QEMU
transports (serial_link.py, qemu.py, transport.py) and firmware builds (firmware.py)."""
