/* Host side of tb_io.h: stdin/stdout, one malloc per block so ASan sees exact bounds. */
#include <stdio.h>
#include <stdlib.h>
#include "tb_io.h"

#define TB_MAX_BLOCKS 64
static void *blocks[TB_MAX_BLOCKS];
static int n_blocks;

int tb_read(void *buf, uint32_t n) { return fread(buf, 1, n, stdin) == n ? 0 : -1; }
void tb_write(const void *buf, uint32_t n) { fwrite(buf, 1, n, stdout); }

void *tb_alloc(uint32_t n)
{
    if (n_blocks == TB_MAX_BLOCKS) return NULL;
    void *p = malloc(n ? n : 1);
    blocks[n_blocks++] = p;
    return p;
}

void tb_free_all(void)
{
    while (n_blocks) free(blocks[--n_blocks]);
}

uint32_t tb_instr_begin(void) { return 0; }
uint32_t tb_instr_end(uint32_t begin) { (void)begin; return 0; }
void tb_exit(int code) { fflush(stdout); exit(code); }
