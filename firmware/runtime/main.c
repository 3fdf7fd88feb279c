/* Firmware entry: bring the board up, then serve the serial protocol forever. */
#include "emb_board.h"
#include "protocol.h"

static void uart_write(const uint8_t *data, uint32_t len) {
    for (uint32_t i = 0; i < len; i++) board_uart_putc(data[i]);
}

int main(void) {
    board_init();
    emb_server_init(uart_write, board_clock);
    for (;;) emb_server_feed(board_uart_getc());
}
