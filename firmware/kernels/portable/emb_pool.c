/* average and max pooling over the non-padded positions of each window: one window walk,
 * two reductions (average: rounding half away from zero; max: TFLite MAX_POOL_2D). */
#include "emb_kernels_internal.h"
#include "emb_fixedpoint.h"

enum pool_kind { POOL_AVG, POOL_MAX };

/* `kind` is a constant in each caller: the compiler emits one loop nest per reduction. */
static inline __attribute__((always_inline)) void pool(
    enum pool_kind kind, int32_t in_h, int32_t in_w, int32_t c, int32_t out_h, int32_t out_w,
    int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w, int32_t pad_top,
    int32_t pad_left, int32_t act_min, int32_t act_max, const int8_t *in, int8_t *out)
{
    for (int32_t oy = 0; oy < out_h; oy++) {
        int32_t kh0, kh1;
        emb_window(oy, stride_h, pad_top, 1, k_h, in_h, &kh0, &kh1);
        const int32_t iy0 = oy * stride_h - pad_top;
        for (int32_t ox = 0; ox < out_w; ox++) {
            int32_t kw0, kw1;
            emb_window(ox, stride_w, pad_left, 1, k_w, in_w, &kw0, &kw1);
            const int32_t ix0 = ox * stride_w - pad_left;
            const int32_t count = (kh1 - kh0) * (kw1 - kw0);
            int8_t *o = out + (oy * out_w + ox) * c;
            for (int32_t ch = 0; ch < c; ch++) {
                int32_t acc = kind == POOL_MAX ? -128 : 0;
                for (int32_t kh = kh0; kh < kh1; kh++) {
                    const int8_t *x = in + ((iy0 + kh) * in_w + ix0 + kw0) * c + ch;
                    for (int32_t kw = 0; kw < kw1 - kw0; kw++) {
                        if (kind == POOL_MAX)
                            acc = x[kw * c] > acc ? x[kw * c] : acc;
                        else
                            acc += x[kw * c];
                    }
                }
                if (kind == POOL_AVG)
                    acc = count <= 0 ? 0 : acc >= 0 ? (acc + count / 2) / count
                                                    : (acc - count / 2) / count;
                o[ch] = (int8_t)emb_clamp(acc, act_min, act_max);
            }
        }
    }
}

void emb_avg_pool_s8(int32_t in_h, int32_t in_w, int32_t c, int32_t out_h, int32_t out_w,
                     int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w,
                     int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max,
                     const int8_t *in, int8_t *out)
{
    pool(POOL_AVG, in_h, in_w, c, out_h, out_w, k_h, k_w, stride_h, stride_w, pad_top,
         pad_left, act_min, act_max, in, out);
}

void emb_max_pool_s8(int32_t in_h, int32_t in_w, int32_t c, int32_t out_h, int32_t out_w,
                     int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w,
                     int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max,
                     const int8_t *in, int8_t *out)
{
    pool(POOL_MAX, in_h, in_w, c, out_h, out_w, k_h, k_w, stride_h, stride_w, pad_top,
         pad_left, act_min, act_max, in, out);
}
