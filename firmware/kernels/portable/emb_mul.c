/* elementwise mul, b optionally broadcast over the spatial positions (OPS.md mul). */
#include "emb_kernels.h"
#include "emb_fixedpoint.h"

void emb_mul_s8(int32_t hw, int32_t c, int32_t b_broadcast, const int8_t *a, const int8_t *b,
                int32_t a_zp, int32_t b_zp, int32_t out_zp, int32_t m, int32_t s,
                int32_t act_min, int32_t act_max, int8_t *out)
{
    for (int32_t i = 0; i < hw; i++) {
        const int8_t *bi = b_broadcast ? b : b + i * c;
        for (int32_t ch = 0; ch < c; ch++) {
            const int32_t prod = ((int32_t)a[i * c + ch] - a_zp) * ((int32_t)bi[ch] - b_zp);
            out[i * c + ch] = (int8_t)emb_clamp(emb_mbqm_inl(prod, m, s) + out_zp, act_min,
                                                act_max);
        }
    }
}
