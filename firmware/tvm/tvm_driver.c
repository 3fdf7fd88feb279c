/* Test and measuring driver for TVM-generated kernels (backends/tvm/mcu/harness.py).
 * Case:   int32 kernel (-1 ends), int32 n_blobs, n_blobs x (int32 nbytes, bytes padded
 *         to 4), int32 out_nbytes. The kernel gets the blobs then the output buffer.
 * Result: int32 status (kernel's return value), uint32 instructions, int32 out_nbytes,
 *         bytes padded to 4. I/O and counting come from firmware/tests (tb_io.h). */
#include <stdint.h>
#include "tb_io.h"

#define MAX_ARGS 16

int emb_tvm_dispatch(int32_t kernel, void **args);   /* generated per build */

int main(void)
{
    for (;;) {
        void *args[MAX_ARGS];
        const int32_t kernel = tb_rd32();
        if (kernel < 0) break;
        const int32_t n_blobs = tb_rd32();
        if (n_blobs < 0 || n_blobs >= MAX_ARGS) tb_exit(5);
        for (int32_t i = 0; i < n_blobs; i++) {
            args[i] = tb_read_blob();
        }
        const uint32_t out_n = (uint32_t)tb_rd32();
        void *out = tb_alloc(out_n);
        if (!out) tb_exit(7);
        args[n_blobs] = out;
        const uint32_t t0 = tb_instr_begin();
        const int status = emb_tvm_dispatch(kernel, args);
        tb_write_result(status, tb_instr_end(t0), out, out_n);
    }
    tb_exit(0);
    return 0;
}
