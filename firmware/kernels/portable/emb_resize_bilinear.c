/* bilinear resize, half-pixel centres, Q10 source coordinates (OPS.md resize_bilinear). */
#include "emb_kernels.h"
#include "emb_fixedpoint.h"

static int32_t src_q10(int32_t o, int32_t in, int32_t out)
{
    const int64_t v = ((int64_t)(2 * o + 1) * in * 1024) / (2 * (int64_t)out) - 512;
    return v > 0 ? (int32_t)v : 0;
}

void emb_resize_bilinear_s8(int32_t in_h, int32_t in_w, int32_t c, int32_t out_h,
                            int32_t out_w, int32_t zp, const int8_t *in, int8_t *out)
{
    for (int32_t oy = 0; oy < out_h; oy++) {
        const int32_t sy = src_q10(oy, in_h, out_h), fy = sy & 1023;
        const int32_t y0 = sy >> 10, y1 = y0 + 1 < in_h ? y0 + 1 : in_h - 1;
        for (int32_t ox = 0; ox < out_w; ox++) {
            const int32_t sx = src_q10(ox, in_w, out_w), fx = sx & 1023;
            const int32_t x0 = sx >> 10, x1 = x0 + 1 < in_w ? x0 + 1 : in_w - 1;
            const int8_t *p00 = in + (y0 * in_w + x0) * c, *p01 = in + (y0 * in_w + x1) * c;
            const int8_t *p10 = in + (y1 * in_w + x0) * c, *p11 = in + (y1 * in_w + x1) * c;
            const int32_t w00 = (1024 - fy) * (1024 - fx), w01 = (1024 - fy) * fx;
            const int32_t w10 = fy * (1024 - fx), w11 = fy * fx;
            int8_t *o = out + (oy * out_w + ox) * c;
            for (int32_t ch = 0; ch < c; ch++) {
                const int32_t v = (p00[ch] - zp) * w00 + (p01[ch] - zp) * w01 +
                                  (p10[ch] - zp) * w10 + (p11[ch] - zp) * w11;
                o[ch] = (int8_t)emb_clamp(((v + (1 << 19)) >> 20) + zp, -128, 127);
            }
        }
    }
}
