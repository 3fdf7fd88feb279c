/* Reset handler and the 16-entry Cortex-M vector table (plus SysTick). Enables the FPU and
 * MVE (CPACR CP10/CP11), copies .data from its load address in FLASH, zeroes .bss and
 * .emb_bulk_bss, paints the stack and calls main. */
#include <stdint.h>
#include <string.h>
#include "emb_board.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_end,
    __emb_bulk_bss_start, __emb_bulk_bss_end;
int main(void);
void SysTick_Handler(void);

static void fault_handler(void) { board_exit(0xFA); }

void Reset_Handler(void) {
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
    if (&__data_load != &__data_start)
        memcpy(&__data_start, &__data_load,
               (uint32_t)((char *)&__data_end - (char *)&__data_start));
    memset(&__bss_start, 0, (uint32_t)((char *)&__bss_end - (char *)&__bss_start));
    memset(&__emb_bulk_bss_start, 0,
           (uint32_t)((char *)&__emb_bulk_bss_end - (char *)&__emb_bulk_bss_start));
    board_stack_paint();
    board_exit(main());
}

__attribute__((weak)) void SysTick_Handler(void) {}

__attribute__((section(".vectors"), used)) void (*const emb_vectors[16])(void) = {
    (void (*)(void))&__stack_end, Reset_Handler,
    fault_handler, fault_handler, fault_handler, fault_handler,  /* NMI, Hard, MemManage, Bus */
    fault_handler, fault_handler, 0, 0, 0,                      /* Usage, Secure, reserved */
    fault_handler, fault_handler, 0, fault_handler,             /* SVC, DebugMon, -, PendSV */
    SysTick_Handler,
};
