/* add with both inputs rescaled to a common scale (OPS.md add). */
#include "emb_kernels.h"
#include "emb_fixedpoint.h"

void emb_add_s8(int32_t size, const int8_t *a, const int8_t *b, int32_t a_zp, int32_t b_zp,
                int32_t out_zp, int32_t left_shift, const int32_t m[3], const int32_t s[3],
                int32_t act_min, int32_t act_max, int8_t *out)
{
    for (int32_t i = 0; i < size; i++) {
        const int32_t a0 = (int32_t)((uint32_t)((int32_t)a[i] - a_zp) << left_shift);
        const int32_t b0 = (int32_t)((uint32_t)((int32_t)b[i] - b_zp) << left_shift);
        const int32_t a1 = emb_mbqm_inl(a0, m[0], s[0]);
        const int32_t b1 = emb_mbqm_inl(b0, m[1], s[1]);
        out[i] = (int8_t)emb_clamp(emb_mbqm_inl(a1 + b1, m[2], s[2]) + out_zp, act_min,
                                   act_max);
    }
}
