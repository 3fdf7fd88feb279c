/* average pooling for Cortex-M55 (Helium): OPS.md avg_pool (rounding half away from zero
 * over the non-padded positions), 8 channels per step: int16 sums (|sum| <= 128 * count
 * fits for count <= AVG_MVE_COUNT_MAX), then q = floor((|sum| + count / 2) / count) as the
 * high word of n * ceil(2^32 / count): exact for n < 2^16, count < 2^16 (n * M / 2^32 =
 * n / count + d with d < n * count / (count * 2^32) < 1 / count, and the fraction of
 * n / count is at most 1 - 1 / count). Larger windows: the portable loop per pixel. */
#include "emb_kernels_internal.h"
#include "emb_fixedpoint.h"
#include "emb_mve.h"

enum { AVG_MVE_COUNT_MAX = 255 };

/* q = round-half-away(s / count) of 4 lanes (count 2..AVG_MVE_COUNT_MAX), clamped. */
static inline int32x4_t avg_div(int32x4_t s, int32_t count, uint32_t m, int32_t act_min,
                                int32_t act_max)
{
    const uint32x4_t n = vreinterpretq_u32_s32(vaddq_n_s32(vabsq_s32(s), count / 2));
    const int32x4_t q = vreinterpretq_s32_u32(vmulhq_u32(n, vdupq_n_u32(m)));
    const int32x4_t v = vpselq_s32(vnegq_s32(q), q, vcmpltq_n_s32(s, 0));
    return vminq_s32(vmaxq_s32(v, vdupq_n_s32(act_min)), vdupq_n_s32(act_max));
}

/* One output pixel: 8 channels per step; windows of 1 or more than AVG_MVE_COUNT_MAX taps
 * take the portable pixel. */
static inline void avg_pool_pixel(const int8_t *in, int32_t in_w, int32_t c, const emb_taps *t,
                                  int32_t act_min, int32_t act_max, int8_t *o)
{
    const int32_t count = (t->kh1 - t->kh0) * (t->kw1 - t->kw0);
    if (count < 2 || count > AVG_MVE_COUNT_MAX) {
        emb_avg_pool_pixel(in, in_w, c, t, act_min, act_max, o);
        return;
    }
    const uint32_t m = (uint32_t)((((uint64_t)1 << 32) + (uint64_t)count - 1) / (uint64_t)count);
    for (int32_t ch = 0; ch < c; ch += 8) {
        const mve_pred16_t p = vctp16q((uint32_t)(c - ch));
        int16x8_t s = vdupq_n_s16(0);
        for (int32_t kh = t->kh0; kh < t->kh1; kh++) {
            const int8_t *x = in + ((t->iy0 + kh) * in_w + t->ix0 + t->kw0) * c + ch;
            for (int32_t kw = 0; kw < t->kw1 - t->kw0; kw++, x += c)
                s = vaddq_s16(s, vldrbq_z_s16(x, p));
        }
        const int32x4_t vb = avg_div(vmovlbq_s16(s), count, m, act_min, act_max);
        const int32x4_t vt = avg_div(vmovltq_s16(s), count, m, act_min, act_max);
        vstrbq_p_s16(o + ch, vmovntq_s32(vmovnbq_s32(vdupq_n_s16(0), vb), vt), p);
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
