/* I/O of the kernel test driver: host (stdio, malloc) or QEMU (semihosting, static pool). */
#ifndef TB_IO_H
#define TB_IO_H
#include <stdint.h>

int tb_read(void *buf, uint32_t n);          /* 0 on success, -1 on short read */
void tb_write(const void *buf, uint32_t n);
void *tb_alloc(uint32_t n);                   /* exact-size block, NULL if out of memory */
void tb_free_all(void);                       /* release every tb_alloc block */
uint32_t tb_instr_begin(void);                /* instruction counter (0 on the host) */
uint32_t tb_instr_end(uint32_t begin);        /* instructions since begin */
void tb_exit(int code);

/* Record readers shared by the drivers: an int32 (exit 3 on a short read), and a blob of
 * n bytes padded to 4 in the stream (exit 6 when it cannot be read or stored). */
static inline int32_t tb_rd32(void)
{
    int32_t v = 0;
    if (tb_read(&v, 4)) tb_exit(3);
    return v;
}

static inline void *tb_read_blob(void)
{
    const uint32_t n = (uint32_t)tb_rd32(), padded = (n + 3u) & ~3u;
    void *blob = tb_alloc(n);
    uint8_t pad[4];
    if (!blob || tb_read(blob, n) || (padded > n && tb_read(pad, padded - n))) tb_exit(6);
    return blob;
}

/* The result record of both drivers: int32 status, uint32 instructions, int32 out_nbytes,
 * the output padded to 4; then every tb_alloc block is released for the next case. */
static inline void tb_write_result(int32_t status, uint32_t instr, const void *out,
                                   uint32_t out_n)
{
    const int32_t head[3] = {status, (int32_t)instr, (int32_t)out_n};
    const uint32_t zero = 0;
    tb_write(head, sizeof head);
    tb_write(out, out_n);
    tb_write(&zero, ((out_n + 3u) & ~3u) - out_n);
    tb_free_all();
}
#endif
