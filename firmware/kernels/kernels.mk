# Kernel sources and flags for one variant. Include from a Makefile after setting:
#   EMB_KERNEL_DIR  path to firmware/kernels
#   EMB_KERNELS     portable | dsp (Cortex-M4/M7, __ARM_FEATURE_DSP) | mve (Cortex-M55 Helium)
# Gives EMB_KERNEL_SRCS (an optimised file replaces its portable counterpart of the same
# name; ops without one use the portable file) and EMB_KERNEL_CFLAGS.
#
# Build kernels WITHOUT -ffreestanding: it stops gcc from inlining memcpy, and the word
# loads in dsp/ and mve/ (memcpy of 4 bytes) then become real calls, about 3x slower on M4
# (DESIGN.md section 3). The rest of the firmware may keep -ffreestanding.

EMB_KERNELS ?= portable
EMB_KERNEL_DIR ?= $(dir $(lastword $(MAKEFILE_LIST)))

EMB_KERNEL_PORTABLE_OPS := fixedpoint conv2d conv2d_generic conv2d_inplace fully_connected fully_connected_sr add mul lut \
                           avg_pool max_pool concat resize_bilinear resize_table softmax
EMB_KERNEL_OPT_OPS.portable :=
EMB_KERNEL_OPT_OPS.dsp := conv2d fully_connected add avg_pool
EMB_KERNEL_OPT_OPS.mve := conv2d fully_connected add avg_pool

ifeq ($(filter $(EMB_KERNELS),portable dsp mve),)
$(error EMB_KERNELS must be portable, dsp or mve, not '$(EMB_KERNELS)')
endif

EMB_KERNEL_OPT_OPS := $(EMB_KERNEL_OPT_OPS.$(EMB_KERNELS))
EMB_KERNEL_SRCS := \
  $(foreach op,$(filter-out $(EMB_KERNEL_OPT_OPS),$(EMB_KERNEL_PORTABLE_OPS)),$(EMB_KERNEL_DIR)/portable/emb_$(op).c) \
  $(foreach op,$(EMB_KERNEL_OPT_OPS),$(EMB_KERNEL_DIR)/$(EMB_KERNELS)/emb_$(op).c)
EMB_KERNEL_CFLAGS := -std=c99 -O2 -Wall -Wextra -I$(EMB_KERNEL_DIR)/include
