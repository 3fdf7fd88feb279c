/* Polled STM32 USART, weak so a board file of your own can replace it (F7/H7/L4 layout:
 * CR1 +0x00, BRR +0x0C, ISR +0x1C, ICR +0x20, RDR +0x24, TDR +0x28). Clocks and pin muxing
 * belong in board_init_hook(); EMB_UART_BAUDDIV (USART kernel clock / baud) comes from the
 * target file. */
#include <stdint.h>
#include "emb_board.h"

#define REG(off) (*(volatile uint32_t *)(EMB_UART_BASE + (off)))

__attribute__((weak)) void board_uart_init(void) {
    REG(0x00) = 0;
    REG(0x0C) = EMB_UART_BAUDDIV;
    REG(0x00) = (1u << 3) | (1u << 2) | 1u;  /* TE | RE | UE */
}

__attribute__((weak)) void board_uart_putc(uint8_t c) {
    while (!(REG(0x1C) & (1u << 7))) {}      /* TXE */
    REG(0x28) = c;
}

__attribute__((weak)) uint8_t board_uart_getc(void) {
    for (;;) {
        uint32_t isr = REG(0x1C);
        if (isr & (1u << 5)) return (uint8_t)REG(0x24);   /* RXNE */
        if (isr & 0xFu) REG(0x20) = 0xFu;                 /* clear PE/FE/NE/ORE in ICR */
    }
}
