/* Minimal private bring-up for the kernel test firmware under QEMU (mps2-an386/an500,
 * mps3-an547): 16-entry vector table, FPU/MVE enable, .bss zeroing, SysTick overflow count.
 * Kept apart from firmware/boards/ so kernel tests do not depend on the board code. */
#include <stdint.h>
#include "tb_io.h"

extern uint32_t __stack_top, __bss_start__, __bss_end__;
int main(void);
void tb_systick_isr(void);

static void reset_handler(void)
{
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20;                         /* CP10/CP11: FPU (and MVE on M55) */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    for (uint32_t *p = &__bss_start__; p < &__bss_end__; p++) *p = 0;
    tb_exit(main());
}

static void fault_handler(void) { tb_exit(0xE0); }

__attribute__((section(".vectors"), used))
static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&__stack_top, reset_handler,
    fault_handler, fault_handler, fault_handler, fault_handler, fault_handler,
    0, 0, 0, 0, fault_handler, fault_handler, 0, fault_handler, tb_systick_isr,
};
