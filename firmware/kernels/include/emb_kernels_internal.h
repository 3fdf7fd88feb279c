/* Shared between kernel variants only (not for generated code): the portable paths an
 * optimised variant falls back to. */
#ifndef EMB_KERNELS_INTERNAL_H
#define EMB_KERNELS_INTERNAL_H
#include "emb_fixedpoint.h"
#include "emb_kernels.h"

/* Opening and closing lines of a hand-written Thumb-2 routine in a top-level __asm__. */
#define EMB_ASM_BEGIN(name)                                                                 \
    "    .text\n    .syntax unified\n    .thumb\n    .align 2\n    .global " name "\n"          \
    "    .thumb_func\n    .type " name ", %function\n" name ":\n"
#define EMB_ASM_END(name) "    .size " name ", .-" name "\n"

/* Any conv2d (groups, dilation, padding); plain loops, OHWI weights. */
void emb_conv2d_generic_s8(const emb_conv_params *p, const int8_t *in, const int8_t *weight,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           int8_t *out);

/* One dense-layer output before requantization: bias + sum_i (x[i] - x_zp) * w[i]. */
static inline int32_t emb_dense_acc(const int8_t *x, const int8_t *w, int32_t n, int32_t x_zp,
                                    int32_t bias)
{
    int32_t acc = bias;
    for (int32_t i = 0; i < n; i++)
        acc += ((int32_t)x[i] - x_zp) * (int32_t)w[i];
    return acc;
}

/* Output pixel (oy, ox): first valid kernel tap and one-past-last along one axis. */
static inline void emb_window(int32_t o, int32_t stride, int32_t pad, int32_t dil, int32_t k,
                              int32_t in, int32_t *k0, int32_t *k1)
{
    int32_t i0 = o * stride - pad;
    int32_t a = 0, b = k;
    while (a < k && i0 + a * dil < 0) a++;
    while (b > a && i0 + (b - 1) * dil >= in) b--;
    *k0 = a;
    *k1 = b;
}

/* One average-pooling output pixel, every channel: the sum over the non-padded taps
 * [kh0, kh1) x [kw0, kw1) from input row iy0 / column ix0, divided rounding half away from
 * zero (OPS.md avg_pool), clamped. */
static inline void emb_avg_pool_pixel(const int8_t *in, int32_t in_w, int32_t c, int32_t iy0,
                                      int32_t ix0, int32_t kh0, int32_t kh1, int32_t kw0,
                                      int32_t kw1, int32_t act_min, int32_t act_max, int8_t *o)
{
    const int32_t count = (kh1 - kh0) * (kw1 - kw0);
    for (int32_t ch = 0; ch < c; ch++) {
        int32_t s = 0;
        for (int32_t kh = kh0; kh < kh1; kh++) {
            const int8_t *x = in + ((iy0 + kh) * in_w + ix0 + kw0) * c + ch;
            for (int32_t kw = 0; kw < kw1 - kw0; kw++)
                s += x[kw * c];
        }
        int32_t v = 0;
        if (count > 0)
            v = s >= 0 ? (s + count / 2) / count : (s - count / 2) / count;
        o[ch] = (int8_t)emb_clamp(v, act_min, act_max);
    }
}
#endif
