/* Board API: what the runtime needs from a board. Implementations live in boards/common/;
 * the target file picks them (board folder, timer.source, uart base).*/
#ifndef EMB_BOARD_H
#define EMB_BOARD_H
#include <stdint.h>

void board_init(void);              /* clocks (weak hook), UART, timer */
void board_init_hook(void);         /* weak, empty: real boards set clocks and pins here */

void board_uart_init(void);
void board_uart_putc(uint8_t c);    /* blocking */
uint8_t board_uart_getc(void);      /* blocking */

void board_timer_init(void);
uint32_t board_clock(void);         /* free-running ticks: instructions in emulation, cycles on boards */
uint32_t board_clock_hz(void);      /* ticks per second of board_clock() */
const char *board_clock_unit(void); /* "instructions" or "cycles" */

void board_exit(int code);          /* semihosting exit in emulation; a spin loop on boards */

/* Stack painting: the reset handler paints the unused stack, the runtime reads the deepest
 * word touched since. */
void board_stack_paint(void);
uint32_t board_stack_size(void);
uint32_t board_stack_high_water(void);  /* bytes used at the deepest point since boot */

/* Semihosting (emulation only, EMB_SEMIHOSTING=1): host file I/O for bulk runs. */
int board_semihosting(void);        /* 1 if built with semihosting */
int32_t board_host_open(const char *path, int write);   /* handle >= 0 or -1 */
int32_t board_host_read(int32_t fd, void *buf, uint32_t len);   /* bytes read or -1 */
int32_t board_host_write(int32_t fd, const void *buf, uint32_t len); /* bytes written or -1 */
void board_host_close(int32_t fd);
#endif
