"""Cortex-M backend: memory plan, C code generation, firmware build, manifest."""
