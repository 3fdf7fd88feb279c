/* average pooling for Cortex-M4/M7 (DSP): OPS.md avg_pool (rounding half away from zero over
 * the non-padded positions), 4 channels per step: one word of int8 per tap, summed as 2 int16
 * pairs by SXTAB16 (|sum| <= 128 * count fits for count <= AVG_DSP_COUNT_MAX), then one
 * division per channel. C % 4 != 0 and larger windows: the portable pixel. */
#include "emb_kernels_internal.h"
#include "emb_dsp.h"

enum { AVG_DSP_COUNT_MAX = 255 };

static inline int8_t avg_div(int32_t s, int32_t count, int32_t act_min, int32_t act_max)
{
    const int32_t v = s >= 0 ? (s + count / 2) / count : (s - count / 2) / count;
    return (int8_t)emb_clamp(v, act_min, act_max);
}

static inline void avg_pool_pixel(const int8_t *in, int32_t in_w, int32_t c, const emb_taps *t,
                                  int32_t act_min, int32_t act_max, int8_t *o)
{
    const int32_t count = (t->kh1 - t->kh0) * (t->kw1 - t->kw0);
    if (count < 1 || count > AVG_DSP_COUNT_MAX || (c & 3)) {
        emb_avg_pool_pixel(in, in_w, c, t, act_min, act_max, o);
        return;
    }
    for (int32_t ch = 0; ch < c; ch += 4) {
        int32_t s02 = 0, s13 = 0;   /* channels (0, 2) and (1, 3) as int16 pairs */
        for (int32_t kh = t->kh0; kh < t->kh1; kh++) {
            const int8_t *x = in + ((t->iy0 + kh) * in_w + t->ix0 + t->kw0) * c + ch;
            for (int32_t kw = 0; kw < t->kw1 - t->kw0; kw++, x += c) {
                const int32_t v = emb_rd4(x);
                s02 = __sxtab16(s02, v);
                s13 = emb_sxtab16_odd(s13, v);
            }
        }
        o[ch] = avg_div((int16_t)s02, count, act_min, act_max);
        o[ch + 1] = avg_div((int16_t)s13, count, act_min, act_max);
        o[ch + 2] = avg_div(s02 >> 16, count, act_min, act_max);
        o[ch + 3] = avg_div(s13 >> 16, count, act_min, act_max);
    }
}

void emb_avg_pool_s8(int32_t in_h, int32_t in_w, int32_t c, int32_t out_h, int32_t out_w,
                     int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w,
                     int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max,
                     const int8_t *in, int8_t *out)
{
    emb_pool_s8(in_h, in_w, c, out_h, out_w, k_h, k_w, stride_h, stride_w, pad_top, pad_left,
                act_min, act_max, in, out, avg_pool_pixel);
}
