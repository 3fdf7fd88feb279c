/* libFuzzer target for the device-side protocol: arbitrary bytes go through the frame
 * parser and the command dispatcher (dummy model, host stubs for the board). Every byte
 * the server writes must form well-framed replies with valid CRCs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emb_board.h"
#include "protocol.h"

static uint32_t ticks;
static uint32_t host_clock(void) { return ticks += 7; }
uint32_t board_clock(void) { return host_clock(); }
uint32_t board_clock_hz(void) { return 1000000000u; }
const char *board_clock_unit(void) { return "instructions"; }
uint32_t board_stack_size(void) { return 4096; }
uint32_t board_stack_high_water(void) { return 128; }
int board_semihosting(void) { return 0; }
int32_t board_host_open(const char *path, int write) { (void)path; (void)write; return -1; }
int32_t board_host_read(int32_t fd, void *buf, uint32_t len) {
    (void)fd; (void)buf; (void)len;
    return -1;
}
int32_t board_host_write(int32_t fd, const void *buf, uint32_t len) {
    (void)fd; (void)buf; (void)len;
    return -1;
}
void board_host_close(int32_t fd) { (void)fd; }

static emb_rx check;   /* parses what the server writes */
static int frames_out;

static void check_write(const uint8_t *data, uint32_t len) {
    for (uint32_t i = 0; i < len; i++) {
        emb_rx_event ev = emb_rx_feed(&check, data[i]);
        if (ev == EMB_RX_BAD_CRC || ev == EMB_RX_TOO_LONG) abort();
        if (ev == EMB_RX_FRAME) {
            if (check.cmd != EMB_CMD_ERROR && !(check.cmd & EMB_CMD_REPLY)) abort();
            frames_out++;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    emb_server_init(check_write, host_clock);
    emb_rx_reset(&check);
    frames_out = 0;
    for (size_t i = 0; i < size; i++) emb_server_feed(data[i]);
    if (check.state != 0) abort();   /* replies are always whole frames */
    return 0;
}
