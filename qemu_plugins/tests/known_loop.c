/* A known loop for qemu_plugins/cm_cycles.c (tests/test_cm_cycles.py): between the two
 * calls of plugin_mark the guest executes exactly BX LR, 100 x (LDR, SMLAD, SUBS, BNE:
 * 99 taken, the last not) and BL: 402 instructions. Linked with firmware/tests' startup. */
#include <stdint.h>

volatile uint32_t known_word = 0x01020304u;

__attribute__((naked, noinline)) void plugin_mark(void)
{
    __asm__ volatile("bx lr");
}

__attribute__((naked, noinline)) static void known_loop(void)
{
    __asm__ volatile(
        "push {r4, lr}\n\t"
        "ldr r2, =known_word\n\t"
        "movs r0, #100\n\t"
        "movs r3, #0\n\t"
        "bl plugin_mark\n"
        "1:\n\t"
        "ldr r1, [r2]\n\t"
        "smlad r3, r1, r1, r3\n\t"
        "subs r0, #1\n\t"
        "bne 1b\n\t"
        "bl plugin_mark\n\t"
        "pop {r4, pc}\n\t"
        ".ltorg");
}

int main(void)
{
    known_loop();
    return 0;
}
