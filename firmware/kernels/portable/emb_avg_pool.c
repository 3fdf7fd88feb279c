/* average pooling, rounding half away from zero over the non-padded positions. */
#include "emb_kernels_internal.h"

void emb_avg_pool_s8(int32_t in_h, int32_t in_w, int32_t c, int32_t out_h, int32_t out_w,
                     int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w,
                     int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max,
                     const int8_t *in, int8_t *out)
{
    emb_pool_s8(in_h, in_w, c, out_h, out_w, k_h, k_w, stride_h, stride_w, pad_top, pad_left,
                act_min, act_max, in, out, emb_avg_pool_pixel);
}
