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
#endif
