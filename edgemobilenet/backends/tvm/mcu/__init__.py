"""TVM-generated int8 kernels for Cortex-M, tuned by MetaSchedule against QEMU.

`tune_mcu` (tune.py) fills a MetaSchedule database on disk; `select_kernels` (select.py)
picks per layer the faster of the hand-written kernel and the best tuned TVM kernel, which
the MCU code generator then calls directly (see DESIGN.md section 3).
"""
