/* average pooling, rounding half away from zero over the non-padded positions. */
#include "emb_kernels_internal.h"

void emb_avg_pool_s8(int32_t in_h, int32_t in_w, int32_t c, int32_t out_h, int32_t out_w,
                     int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w,
                     int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max,
                     const int8_t *in, int8_t *out)
{
    for (int32_t oy = 0; oy < out_h; oy++) {
        int32_t kh0, kh1;
        emb_window(oy, stride_h, pad_top, 1, k_h, in_h, &kh0, &kh1);
        const int32_t iy0 = oy * stride_h - pad_top;
        for (int32_t ox = 0; ox < out_w; ox++) {
            int32_t kw0, kw1;
            emb_window(ox, stride_w, pad_left, 1, k_w, in_w, &kw0, &kw1);
            const int32_t ix0 = ox * stride_w - pad_left;
            emb_avg_pool_pixel(in, in_w, c, iy0, ix0, kh0, kh1, kw0, kw1, act_min, act_max,
                               out + (oy * out_w + ox) * c);
        }
    }
}
