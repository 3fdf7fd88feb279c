# mps3-an547 under qemu-system-arm: CMSDK UART, semihosting for exit and host file I/O.
# Memory map, UART base and timer come from targets/mps3-an547.toml.
BOARD_SRCS := $(EMB_FIRMWARE)/boards/common/uart_cmsdk.c
BOARD_DEFS := -DEMB_SEMIHOSTING=1
