/* max pooling over the non-padded positions of each window (TFLite MAX_POOL_2D). */
#include "emb_kernels_internal.h"
#include "emb_fixedpoint.h"

static inline void max_pool_pixel(const int8_t *in, int32_t in_w, int32_t c, const emb_taps *t,
                                  int32_t act_min, int32_t act_max, int8_t *o)
{
    for (int32_t ch = 0; ch < c; ch++) {
        int32_t m = -128;
        for (int32_t kh = t->kh0; kh < t->kh1; kh++) {
            const int8_t *x = in + ((t->iy0 + kh) * in_w + t->ix0 + t->kw0) * c + ch;
            for (int32_t kw = 0; kw < t->kw1 - t->kw0; kw++)
                if (x[kw * c] > m)
                    m = x[kw * c];
        }
        o[ch] = (int8_t)emb_clamp(m, act_min, act_max);
    }
}

void emb_max_pool_s8(int32_t in_h, int32_t in_w, int32_t c, int32_t out_h, int32_t out_w,
                     int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w,
                     int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max,
                     const int8_t *in, int8_t *out)
{
    emb_pool_s8(in_h, in_w, c, out_h, out_w, k_h, k_w, stride_h, stride_w, pad_top, pad_left,
                act_min, act_max, in, out, max_pool_pixel);
}
