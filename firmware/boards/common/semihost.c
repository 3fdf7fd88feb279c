/* Arm semihosting (emulation only): exit with a code and host file I/O for bulk runs.
 * Built with EMB_SEMIHOSTING=1 for emulated targets; on real boards without a debugger a
 * BKPT would fault, so the stubs below report "unsupported" instead. */
#include <stdint.h>
#include <string.h>
#include "emb_board.h"

#if EMB_SEMIHOSTING
enum { SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE = 0x05, SYS_READ = 0x06,
       SYS_EXIT_EXTENDED = 0x20 };

static int32_t semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}

int board_semihosting(void) { return 1; }

void board_exit(int code) {
    uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
    semihost(SYS_EXIT_EXTENDED, block);
    for (;;) {}
}

int32_t board_host_open(const char *path, int write) {
    uint32_t block[3] = {(uint32_t)path, write ? 6u /* "wb" */ : 1u /* "rb" */,
                         (uint32_t)strlen(path)};
    return semihost(SYS_OPEN, block);
}

int32_t board_host_read(int32_t fd, void *buf, uint32_t len) {
    uint32_t block[3] = {(uint32_t)fd, (uint32_t)buf, len};
    int32_t left = semihost(SYS_READ, block);  /* returns bytes NOT read */
    return left < 0 || (uint32_t)left > len ? -1 : (int32_t)(len - (uint32_t)left);
}

int32_t board_host_write(int32_t fd, const void *buf, uint32_t len) {
    uint32_t block[3] = {(uint32_t)fd, (uint32_t)buf, len};
    return semihost(SYS_WRITE, block) == 0 ? (int32_t)len : -1;
}

void board_host_close(int32_t fd) {
    uint32_t block[1] = {(uint32_t)fd};
    semihost(SYS_CLOSE, block);
}
#else
int board_semihosting(void) { return 0; }
void board_exit(int code) { (void)code; for (;;) { __asm volatile("wfi"); } }
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
#endif
