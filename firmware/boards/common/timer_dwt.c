/* DWT CYCCNT: the core cycle counter of Cortex-M3/M4/M7/M33/M55 (reads 0 under QEMU). */
#include <stdint.h>
#include "emb_board.h"

#define DEMCR      (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_LAR    (*(volatile uint32_t *)0xE0001FB0u)
#define DWT_CTRL   (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)

void board_timer_init(void) {
    DEMCR |= 1u << 24;        /* TRCENA */
    DWT_LAR = 0xC5ACCE55u;    /* unlock on M7; ignored elsewhere */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
}

uint32_t board_clock(void) { return DWT_CYCCNT; }
uint32_t board_clock_hz(void) { return EMB_TICK_HZ; }
const char *board_clock_unit(void) { return EMB_TICK_UNIT; }
