/* QEMU side of tb_io.h: semihosting file I/O (tb_in.bin / tb_out.bin in QEMU's working
 * directory), a bump allocator over the linker's pool region, SysTick instruction counts
 * (with -icount shift=0 one instruction is 1 ns; TB_TICK_HZ is the SysTick clock). */
#include <stdint.h>
#include "tb_io.h"

#ifndef TB_TICK_HZ
#error "TB_TICK_HZ (SysTick clock of the machine) must be defined"
#endif

extern uint8_t __pool_start, __pool_end;

enum { SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE = 0x05, SYS_READ = 0x06,
       SYS_EXIT_EXTENDED = 0x20 };

static int32_t semihost(int32_t op, const void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static int32_t fd_in = -1, fd_out = -1;
static uint8_t *pool_next;
static volatile uint32_t systick_wraps;

static int32_t sh_open(const char *name, int32_t len, int32_t mode)
{
    const uint32_t args[3] = {(uint32_t)(uintptr_t)name, (uint32_t)mode, (uint32_t)len};
    return semihost(SYS_OPEN, args);
}

static void tb_init(void)
{
    if (fd_in >= 0) return;
    fd_in = sh_open("tb_in.bin", 9, 1);           /* "rb" */
    fd_out = sh_open("tb_out.bin", 10, 5);        /* "wb" */
    if (fd_in < 0 || fd_out < 0) tb_exit(0xF1);
    pool_next = &__pool_start;
    volatile uint32_t *syst = (volatile uint32_t *)0xE000E010u;
    syst[1] = 0x00FFFFFFu;                        /* RVR */
    syst[2] = 0;                                  /* CVR */
    syst[0] = 7;                                  /* processor clock, interrupt, enable */
    while (syst[2] == 0) {}                       /* first reload */
}

int tb_read(void *buf, uint32_t n)
{
    tb_init();
    const uint32_t args[3] = {(uint32_t)fd_in, (uint32_t)(uintptr_t)buf, n};
    return semihost(SYS_READ, args) == 0 ? 0 : -1;
}

void tb_write(const void *buf, uint32_t n)
{
    tb_init();
    if (!n) return;
    const uint32_t args[3] = {(uint32_t)fd_out, (uint32_t)(uintptr_t)buf, n};
    if (semihost(SYS_WRITE, args) != 0) tb_exit(0xF2);
}

void *tb_alloc(uint32_t n)
{
    tb_init();
    uint8_t *p = pool_next;
    if ((uint32_t)(&__pool_end - p) < n + 8u) return 0;
    pool_next = p + ((n + 7u) & ~7u);
    return p;
}

void tb_free_all(void) { pool_next = &__pool_start; }

void tb_systick_isr(void) { systick_wraps++; }

static uint64_t ticks(void)
{
    volatile uint32_t *syst = (volatile uint32_t *)0xE000E010u;
    uint32_t w, v;
    do {
        w = systick_wraps;
        v = syst[2];
    } while (w != systick_wraps);
    return (uint64_t)w * 0x1000000u + (0x00FFFFFFu - v);
}

uint32_t tb_instr_begin(void) { tb_init(); return (uint32_t)ticks(); }

uint32_t tb_instr_end(uint32_t begin)
{
    const uint32_t dt = (uint32_t)ticks() - begin;
    return (uint32_t)((uint64_t)dt * 1000000000u / TB_TICK_HZ);
}

void tb_exit(int code)
{
    if (fd_out >= 0) semihost(SYS_CLOSE, (const uint32_t[1]){(uint32_t)fd_out});
    const uint32_t args[2] = {0x20026u, (uint32_t)code};
    for (;;) semihost(SYS_EXIT_EXTENDED, args);
}
