/* fully_connected with one rounding (TFLite's per-channel FULLY_CONNECTED, OPS.md
 * fully_connected_single_round): y = clamp(((acc * m + 2^(k-1)) >> k) + zp), k = 31 - shift. */
#include "emb_kernels_internal.h"
#include "emb_fixedpoint.h"

void emb_fully_connected_sr_s8(int32_t in_c, int32_t out_c, const int8_t *in,
                               const int8_t *weight, const int32_t *bias, const int32_t *mult,
                               const int32_t *shift, int32_t in_zp, int32_t out_zp,
                               int32_t act_min, int32_t act_max, int8_t *out)
{
    for (int32_t oc = 0; oc < out_c; oc++) {
        const int32_t acc = emb_dense_acc(in, weight + oc * in_c, in_c, in_zp, bias[oc]);
        const int32_t k = 31 - shift[oc];
        int64_t v = ((int64_t)acc * mult[oc] + ((int64_t)1 << (k - 1))) >> k;
        v = v > 255 ? 255 : (v < -256 ? -256 : v);   /* saturates either way after + zp */
        out[oc] = (int8_t)emb_clamp((int32_t)v + out_zp, act_min, act_max);
    }
}
