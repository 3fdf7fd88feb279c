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

/* The input taps of one pooling output pixel: kernel rows [kh0, kh1) and columns [kw0, kw1)
 * of the window at input row iy0 / column ix0 (those inside the input). */
typedef struct {
    int32_t iy0, ix0, kh0, kh1, kw0, kw1;
} emb_taps;

/* One pooling output pixel, every channel, into o. */
typedef void (*emb_pool_pixel_fn)(const int8_t *in, int32_t in_w, int32_t c, const emb_taps *t,
                                  int32_t act_min, int32_t act_max, int8_t *o);

/* The pooling skeleton: `pixel` for every output pixel (inlined where `pixel` is known). */
static inline void emb_pool_s8(int32_t in_h, int32_t in_w, int32_t c, int32_t out_h,
                               int32_t out_w, int32_t k_h, int32_t k_w, int32_t stride_h,
                               int32_t stride_w, int32_t pad_top, int32_t pad_left,
                               int32_t act_min, int32_t act_max, const int8_t *in, int8_t *out,
                               emb_pool_pixel_fn pixel)
{
    emb_taps t;
    for (int32_t oy = 0; oy < out_h; oy++) {
        emb_window(oy, stride_h, pad_top, 1, k_h, in_h, &t.kh0, &t.kh1);
        t.iy0 = oy * stride_h - pad_top;
        for (int32_t ox = 0; ox < out_w; ox++) {
            emb_window(ox, stride_w, pad_left, 1, k_w, in_w, &t.kw0, &t.kw1);
            t.ix0 = ox * stride_w - pad_left;
            pixel(in, in_w, c, &t, act_min, act_max, out + (oy * out_w + ox) * c);
        }
    }
}

/* One average-pooling output pixel: the sum over the taps divided rounding half away from
 * zero (OPS.md avg_pool), clamped. */
static inline void emb_avg_pool_pixel(const int8_t *in, int32_t in_w, int32_t c,
                                      const emb_taps *t, int32_t act_min, int32_t act_max,
                                      int8_t *o)
{
    const int32_t count = (t->kh1 - t->kh0) * (t->kw1 - t->kw0);
    for (int32_t ch = 0; ch < c; ch++) {
        int32_t s = 0;
        for (int32_t kh = t->kh0; kh < t->kh1; kh++) {
            const int8_t *x = in + ((t->iy0 + kh) * in_w + t->ix0 + t->kw0) * c + ch;
            for (int32_t kw = 0; kw < t->kw1 - t->kw0; kw++)
                s += x[kw * c];
        }
        int32_t v = 0;
        if (count > 0)
            v = s >= 0 ? (s + count / 2) / count : (s - count / 2) / count;
        o[ch] = (int8_t)emb_clamp(v, act_min, act_max);
    }
}
#endif
