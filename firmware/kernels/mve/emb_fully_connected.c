/* fully_connected for Cortex-M55 (Helium): weights packed like a pointwise conv (blocks of
 * 4 output channels, 16-byte chunks interleaved, packing.py) and the pointwise VMLADAVA loop
 * (emb_mve_pw_2x4) with the input as its first pixel and a row of in_zp as its second, so
 * that one pass gives x . w and zp * sum(w); then the vector requantization. */
#include <string.h>
#include "emb_kernels.h"
#include "emb_mve.h"

enum { FC_ZP_ROW_MAX = 1024 };   /* longer inputs sum the weights separately */

void emb_fully_connected_s8(int32_t in_c, int32_t out_c, const int8_t *in,
                            const int8_t *weight, const int32_t *bias, const int32_t *mult,
                            const int32_t *shift, int32_t in_zp, int32_t out_zp,
                            int32_t act_min, int32_t act_max, int8_t *out)
{
    int8_t zp_row[FC_ZP_ROW_MAX];
    const int row = in_c <= FC_ZP_ROW_MAX;
    if (row) memset(zp_row, (int8_t)in_zp, (size_t)in_c);
    for (int32_t oc = 0; oc < out_c; oc += 4) {
        const int32_t m = out_c - oc < 4 ? out_c - oc : 4;
        const mve_pred16_t p = vctp32q((uint32_t)m);
        const int8_t *wb = weight + oc * in_c, *z = row ? zp_row : in;
        int32_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        emb_mve_pw_2x4(in, z, wb, in_c >> 4, acc);
        if (in_c & 15)
            emb_mve_pw_tail(in + (in_c & ~15), z + (in_c & ~15), wb + 4 * (in_c & ~15),
                            in_c & 15, acc);
        int32x4_t zw = vldrwq_s32(acc + 4);   /* zp * sum(w) */
        if (!row) {
            int32_t wsum[4];
            emb_mve_block_wsum(wb, in_c, wsum);
            zw = vmulq_n_s32(emb_mve_vec4(wsum), in_zp);
        }
        const int32x4_t b = vldrwq_z_s32(bias + oc, p);
        const int32x4_t a = vsubq_s32(vaddq_s32(vldrwq_s32(acc), b), zw);
        const emb_mve_rq rq = emb_mve_rq_load(mult + oc, shift + oc, p);
        vstrbq_p_s32(out + oc, emb_mve_requant(a, rq, out_zp, act_min, act_max), p);
    }
}
