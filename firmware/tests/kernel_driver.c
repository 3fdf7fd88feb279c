/* Kernel test driver: reads cases, runs one kernel per case, writes its output.
 * Case:   int32 op, int32 n_ints, int32 ints[n_ints], int32 n_blobs,
 *         n_blobs x (int32 nbytes, bytes padded to 4), int32 out_nbytes.   op -1 ends.
 * Result: int32 status (0 ok), uint32 instructions, int32 out_nbytes, bytes padded to 4.
 * The int order per op is listed in OP_INTS (backends/mcu/kernel_check.py mirrors it). */
#include <string.h>
#include "emb_kernels.h"
#include "tb_io.h"

enum { OP_CONV, OP_FC, OP_ADD, OP_MUL, OP_LUT, OP_AVG_POOL, OP_CONCAT, OP_RESIZE,
       OP_SOFTMAX, OP_MBQM, OP_COUNT };
static const int32_t OP_INTS[OP_COUNT] = {20, 6, 13, 10, 2, 13, 9, 6, 1, 1};
static const int32_t OP_BLOBS[OP_COUNT] = {5, 5, 2, 2, 2, 1, 2, 1, 2, 3};

#define MAX_INTS 32
#define MAX_BLOBS 8

static void wr32(int32_t v) { tb_write(&v, 4); }

static void run(int32_t op, const int32_t *a, void **b, void *out)
{
    const int8_t *in = (const int8_t *)b[0];
    int8_t *o = (int8_t *)out;
    switch (op) {
    case OP_CONV: {
        emb_conv_params p;
        memcpy(&p, a, sizeof p);
        emb_conv2d_s8(&p, in, b[1], b[2], b[3], b[4], o);
        break;
    }
    case OP_FC:
        emb_fully_connected_s8(a[0], a[1], in, b[1], b[2], b[3], b[4], a[2], a[3], a[4], a[5], o);
        break;
    case OP_ADD: {
        const int32_t m[3] = {a[5], a[6], a[7]}, s[3] = {a[8], a[9], a[10]};
        emb_add_s8(a[0], in, b[1], a[1], a[2], a[3], a[4], m, s, a[11], a[12], o);
        break;
    }
    case OP_MUL:
        emb_mul_s8(a[0], a[1], a[2], in, b[1], a[3], a[4], a[5], a[6], a[7], a[8], a[9], o);
        break;
    case OP_LUT:   /* a[1] != 0: run in place (out aliases in) */
        if (a[1]) {
            memcpy(o, in, (size_t)a[0]);
            emb_lut_s8(a[0], o, b[1], o);
        } else {
            emb_lut_s8(a[0], in, b[1], o);
        }
        break;
    case OP_AVG_POOL:
        emb_avg_pool_s8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
                        a[11], a[12], in, o);
        break;
    case OP_CONCAT:   /* b[1]: initial content of out (the other inputs' slices) */
        memcpy(o, b[1], (size_t)(a[0] * a[2]));
        emb_concat_s8(a[0], a[1], a[2], a[3], in, a[4], a[5], a[6], a[7], a[8], o);
        break;
    case OP_RESIZE:
        emb_resize_bilinear_s8(a[0], a[1], a[2], a[3], a[4], a[5], in, o);
        break;
    case OP_SOFTMAX:
        emb_softmax_s8(a[0], in, b[1], o);
        break;
    case OP_MBQM: {
        const int32_t *x = b[0], *m = b[1], *s = b[2];
        int32_t *r = out;
        for (int32_t i = 0; i < a[0]; i++) r[i] = emb_mbqm(x[i], m[i], s[i]);
        break;
    }
    }
}

int main(void)
{
    for (;;) {
        int32_t ints[MAX_INTS];
        void *blobs[MAX_BLOBS];
        const int32_t op = tb_rd32();
        if (op < 0) break;
        const int32_t n_ints = tb_rd32();
        if (op >= OP_COUNT || n_ints != OP_INTS[op]) tb_exit(4);
        for (int32_t i = 0; i < n_ints; i++) ints[i] = tb_rd32();
        const int32_t n_blobs = tb_rd32();
        if (n_blobs != OP_BLOBS[op]) tb_exit(5);
        for (int32_t i = 0; i < n_blobs; i++) {
            blobs[i] = tb_read_blob();
        }
        const uint32_t out_n = (uint32_t)tb_rd32();
        void *out = tb_alloc(out_n);
        if (!out) tb_exit(7);
        const uint32_t t0 = tb_instr_begin();
        run(op, ints, blobs, out);
        const uint32_t instr = tb_instr_end(t0);
        const uint32_t zero = 0;
        wr32(0);
        wr32((int32_t)instr);
        wr32((int32_t)out_n);
        tb_write(out, out_n);
        tb_write(&zero, ((out_n + 3u) & ~3u) - out_n);
        tb_free_all();
    }
    tb_exit(0);
    return 0;
}
