/* SysTick as a free-running clock: 24-bit down counter at EMB_CLOCK_HZ, reloaded at
 * 0xFFFFFF; the SysTick interrupt counts wraps. board_clock() converts to EMB_TICK_HZ
 * (1e9 in emulation: with -icount shift=0 one ns of virtual time is one instruction). */
#include <stdint.h>
#include "emb_board.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define RELOAD 0xFFFFFFu

static volatile uint32_t wraps;

void SysTick_Handler(void) { wraps++; }

void board_timer_init(void) {
    SYST_RVR = RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 0x7u;                      /* enable, interrupt, processor clock */
    while (SYST_CVR == 0) {}              /* QEMU loads the counter at the first reload */
}

uint32_t board_clock(void) {
    uint32_t w, v;
    do {
        w = wraps;
        v = SYST_CVR;
    } while (w != wraps);
    uint64_t counts = (uint64_t)w * (RELOAD + 1u) + (RELOAD - (v & RELOAD));
    if (EMB_TICK_HZ % EMB_CLOCK_HZ == 0) return (uint32_t)counts * (EMB_TICK_HZ / EMB_CLOCK_HZ);
    return (uint32_t)(counts * (uint64_t)EMB_TICK_HZ / (uint64_t)EMB_CLOCK_HZ);
}

uint32_t board_clock_hz(void) { return EMB_TICK_HZ; }
const char *board_clock_unit(void) { return EMB_TICK_UNIT; }
