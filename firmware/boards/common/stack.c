/* Stack painting: fill the unused stack with a pattern at boot; the deepest overwritten
 * word gives the high-water mark. */
#include <stdint.h>
#include "emb_board.h"

#define PAINT 0xC5A5C5A5u
extern uint32_t __stack_start, __stack_end;

__attribute__((noinline)) void board_stack_paint(void) {
    uint32_t here;
    volatile uint32_t *p = &__stack_start;
    volatile uint32_t *stop = (uint32_t *)((uintptr_t)&here & ~3u) - 16; /* keep our frame */
    while (p < stop) *p++ = PAINT;
}

uint32_t board_stack_size(void) {
    return (uint32_t)((char *)&__stack_end - (char *)&__stack_start);
}

uint32_t board_stack_high_water(void) {
    const volatile uint32_t *p = &__stack_start;
    while (p < &__stack_end && *p == PAINT) p++;
    return (uint32_t)((const char *)&__stack_end - (const char *)p);
}
