/* Arm CMSDK APB UART (MPS2/MPS3 and QEMU): DATA +0x0, STATE +0x4 (bit0 TX full, bit1 RX
 * full), CTRL +0x8 (bit0 TX enable, bit1 RX enable), BAUDDIV +0x10. EMB_UART_BASE comes
 * from the target file. */
#include <stdint.h>
#include "emb_board.h"

#define REG(off) (*(volatile uint32_t *)(EMB_UART_BASE + (off)))

void board_uart_init(void) {
    REG(0x10) = EMB_UART_BAUDDIV;
    REG(0x8) = 0x3u;
}

void board_uart_putc(uint8_t c) {
    while (REG(0x4) & 0x1u) {}
    REG(0x0) = c;
}

uint8_t board_uart_getc(void) {
    while (!(REG(0x4) & 0x2u)) {}
    return (uint8_t)REG(0x0);
}
