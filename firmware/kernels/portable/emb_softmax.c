/* softmax through a 256-entry exp table; out scale 1/256, zero point -128 (OPS.md). */
#include "emb_kernels.h"
#include "emb_fixedpoint.h"

void emb_softmax_s8(int32_t n, const int8_t *in, const int32_t exp_table[256], int8_t *out)
{
    int32_t mx = -128;
    for (int32_t i = 0; i < n; i++)
        mx = in[i] > mx ? in[i] : mx;
    int64_t sum = 0;
    for (int32_t i = 0; i < n; i++)
        sum += exp_table[mx - in[i]];
    if (sum <= 0) sum = 1;   /* only a degenerate all-zero table gets here */
    for (int32_t i = 0; i < n; i++) {
        const int64_t e = exp_table[mx - in[i]];
        const int64_t q = (e * 256 + sum / 2) / sum - 128;
        out[i] = (int8_t)emb_clamp((int32_t)q, -128, 127);
    }
}
