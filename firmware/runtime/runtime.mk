# Build one firmware ELF: runtime + board support + kernels + a model.
# Include it from a generated Makefile or run `make -f firmware/runtime/runtime.mk VAR=...`.
# The target variables come from edgemobilenet.targets.Target.make_vars() (one per line in
# the generated target.mk); the model variables from the code generator.
#
#   target: CC TARGET_CFLAGS EMB_BOARD EMB_TIMER EMB_KERNELS EMB_CLOCK_HZ EMB_TICK_HZ
#           EMB_TICK_UNIT EMB_UART_BASE EMB_UART_BAUDDIV FLASH_ORIGIN FLASH_LENGTH
#           RAM_ORIGIN RAM_LENGTH STACK_SIZE [BULK_ORIGIN BULK_LENGTH]
#   model:  MODEL_SRCS (model.c ...), MODEL_CFLAGS, optional KERNEL_SRCS override,
#           optional MODEL_OBJS (prebuilt objects, e.g. TVM-generated kernels)
#   output: BUILD (directory, default build), ELF (default $(BUILD)/firmware.elf)
ifndef EMB_FIRMWARE
EMB_FIRMWARE := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
endif
BUILD ?= build
ELF ?= $(BUILD)/firmware.elf
CC ?= arm-none-eabi-gcc
OPT ?= -O2
EMB_MAX_LAYERS ?= 512

include $(EMB_FIRMWARE)/boards/$(EMB_BOARD)/board.mk

# kernels: portable/*.c, each replaced by the file of the same name in the variant folder
ifneq ($(wildcard $(EMB_FIRMWARE)/kernels/kernels.mk),)
include $(EMB_FIRMWARE)/kernels/kernels.mk
endif
KERNEL_VARIANT_SRCS := $(if $(filter-out portable,$(EMB_KERNELS)),$(wildcard $(EMB_FIRMWARE)/kernels/$(EMB_KERNELS)/*.c))
KERNEL_SRCS ?= $(KERNEL_VARIANT_SRCS) \
    $(filter-out $(addprefix $(EMB_FIRMWARE)/kernels/portable/,$(notdir $(KERNEL_VARIANT_SRCS))),\
                 $(wildcard $(EMB_FIRMWARE)/kernels/portable/*.c))

RUNTIME_SRCS := $(EMB_FIRMWARE)/runtime/main.c $(EMB_FIRMWARE)/runtime/protocol.c
COMMON_SRCS := $(addprefix $(EMB_FIRMWARE)/boards/common/,startup.c board.c stack.c semihost.c \
    timer_$(EMB_TIMER).c) $(BOARD_SRCS) $(BOARD_EXTRA_SRCS)

CFLAGS := $(TARGET_CFLAGS) $(OPT) -std=gnu11 -Wall -Wextra -ffunction-sections -fdata-sections -MMD -MP \
    -I$(EMB_FIRMWARE)/boards/include -I$(EMB_FIRMWARE)/runtime -I$(EMB_FIRMWARE)/kernels/include \
    $(BOARD_DEFS) -DEMB_CLOCK_HZ=$(EMB_CLOCK_HZ)u -DEMB_TICK_HZ=$(EMB_TICK_HZ)u \
    -DEMB_TICK_UNIT='"$(EMB_TICK_UNIT)"' -DEMB_UART_BASE=$(EMB_UART_BASE)u \
    -DEMB_UART_BAUDDIV=$(EMB_UART_BAUDDIV)u -DEMB_MAX_LAYERS=$(EMB_MAX_LAYERS) $(MODEL_CFLAGS)
LDFLAGS := $(TARGET_CFLAGS) -nostartfiles --specs=nano.specs --specs=nosys.specs \
    -Wl,--gc-sections -L$(BUILD) -T$(EMB_FIRMWARE)/boards/common/sections.ld \
    -Wl,-Map=$(ELF:.elf=.map)

SRCS := $(RUNTIME_SRCS) $(COMMON_SRCS) $(KERNEL_SRCS) $(MODEL_SRCS)
OBJS := $(foreach s,$(SRCS),$(BUILD)/obj/$(subst /,_,$(basename $(abspath $(s)))).o)

.PHONY: firmware
firmware: $(ELF)

# BULK: an optional big region (BULK_ORIGIN/BULK_LENGTH, e.g. DDR) for the sections
# .emb_bulk (constants) and .emb_bulk_bss (zeroed); without one they go to FLASH and RAM.
ifneq ($(strip $(BULK_LENGTH)),)
BULK_LD := '  BULK (rwx) : ORIGIN = $(BULK_ORIGIN), LENGTH = $(BULK_LENGTH)\n}\nREGION_ALIAS("BULK_RAM", BULK);\n'
else
BULK_LD := '}\nREGION_ALIAS("BULK", FLASH);\nREGION_ALIAS("BULK_RAM", RAM);\n'
endif

# config.txt changes whenever the flags or the memory map do: objects and memory.ld follow
CONFIG := $(CC) $(CFLAGS) | $(LDFLAGS) | $(FLASH_ORIGIN) $(FLASH_LENGTH) $(RAM_ORIGIN) \
    $(RAM_LENGTH) $(BULK_ORIGIN) $(BULK_LENGTH) $(STACK_SIZE)
$(shell mkdir -p $(BUILD) && echo '$(CONFIG)' | cmp -s - $(BUILD)/config.txt || \
    echo '$(CONFIG)' > $(BUILD)/config.txt)

$(BUILD)/memory.ld: $(MAKEFILE_LIST) $(BUILD)/config.txt
	@mkdir -p $(BUILD)
	printf 'MEMORY\n{\n  FLASH (rx) : ORIGIN = %s, LENGTH = %s\n  RAM (rwx) : ORIGIN = %s, LENGTH = %s\n' \
	  $(FLASH_ORIGIN) $(FLASH_LENGTH) $(RAM_ORIGIN) $(RAM_LENGTH) > $@.tmp
	printf $(BULK_LD) >> $@.tmp
	printf '__stack_size = %s;\n' $(STACK_SIZE) >> $@.tmp && mv $@.tmp $@

define compile_rule
$(BUILD)/obj/$(subst /,_,$(basename $(abspath $(1)))).o: $(1) $(MAKEFILE_LIST) $(BUILD)/config.txt
	@mkdir -p $(BUILD)/obj
	$(CC) $(CFLAGS) -c $(1) -o $$@
endef
$(foreach s,$(SRCS),$(eval $(call compile_rule,$(s))))

$(ELF): $(OBJS) $(MODEL_OBJS) $(BUILD)/memory.ld $(EMB_FIRMWARE)/boards/common/sections.ld
	$(CC) $(LDFLAGS) $(OBJS) $(MODEL_OBJS) -lm -o $@.tmp && mv $@.tmp $@
-include $(OBJS:.o=.d)
