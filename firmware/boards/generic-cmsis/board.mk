# Real Cortex-M boards: a weak polled STM32-style USART at the target's uart.base (replace
# board_uart_* and board_init_hook in a file of your own for other parts: add it to
# BOARD_EXTRA_SRCS), DWT cycle counter timer, no semihosting.
BOARD_SRCS := $(EMB_FIRMWARE)/boards/common/uart_stm32_usart.c
BOARD_DEFS := -DEMB_SEMIHOSTING=0
