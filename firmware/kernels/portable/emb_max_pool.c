/* max pooling over the non-padded positions of each window (TFLite MAX_POOL_2D). */
#include "emb_kernels_internal.h"
#include "emb_fixedpoint.h"

void emb_max_pool_s8(int32_t in_h, int32_t in_w, int32_t c, int32_t out_h, int32_t out_w,
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
            int8_t *o = out + (oy * out_w + ox) * c;
            for (int32_t ch = 0; ch < c; ch++) {
                int32_t m = -128;
                for (int32_t kh = kh0; kh < kh1; kh++) {
                    const int8_t *x = in + ((iy0 + kh) * in_w + ix0 + kw0) * c + ch;
                    for (int32_t kw = 0; kw < kw1 - kw0; kw++)
                        if (x[kw * c] > m)
                            m = x[kw * c];
                }
                o[ch] = (int8_t)emb_clamp(m, act_min, act_max);
            }
        }
    }
}
