/* concat along channels: one call per input writes its channel slice of out. */
#include <string.h>
#include "emb_kernels.h"
#include "emb_fixedpoint.h"

void emb_concat_s8(int32_t hw, int32_t in_c, int32_t out_c, int32_t c_offset,
                   const int8_t *in, int32_t requant, int32_t in_zp, int32_t out_zp,
                   int32_t m, int32_t s, int8_t *out)
{
    for (int32_t i = 0; i < hw; i++) {
        const int8_t *x = in + i * in_c;
        int8_t *o = out + i * out_c + c_offset;
        if (!requant) {
            memcpy(o, x, (size_t)in_c);
            continue;
        }
        for (int32_t ch = 0; ch < in_c; ch++)
            o[ch] = (int8_t)emb_clamp(emb_mbqm_inl((int32_t)x[ch] - in_zp, m, s) + out_zp,
                                      -128, 127);
    }
}
