/* board_init for every target: the optional clock/pin hook, then UART and timer. */
#include "emb_board.h"

__attribute__((weak)) void board_init_hook(void) {}

void board_init(void) {
    board_init_hook();
    board_uart_init();
    board_timer_init();
}
