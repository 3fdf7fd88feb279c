/* conv2d dispatch (portable C99): 1x1 fast path, depthwise 3x3 / 5x5 / KxK, generic. */
#include "emb_kernels_internal.h"
#include "emb_fixedpoint.h"

/* groups == 1, 1x1 kernel, no dilation concerns: a matrix product per output pixel. */
static void conv_1x1(const emb_conv_params *p, const int8_t *in, const int8_t *weight,
                     const int32_t *bias, const int32_t *mult, const int32_t *shift,
                     int8_t *out)
{
    const int32_t c = p->in_c, zp = p->in_zp;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        const int32_t iy = oy * p->stride_h - p->pad_top;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            const int32_t ix = ox * p->stride_w - p->pad_left;
            const int valid = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
            const int8_t *x = in + (valid ? (iy * p->in_w + ix) * c : 0);
            int8_t *o = out + (oy * p->out_w + ox) * p->out_c;
            const int8_t *w = weight;
            for (int32_t oc = 0; oc < p->out_c; oc++, w += c) {
                int32_t acc = bias[oc];
                if (valid)
                    for (int32_t ic = 0; ic < c; ic++)
                        acc += ((int32_t)x[ic] - zp) * (int32_t)w[ic];
                o[oc] = emb_requant(acc, mult[oc], shift[oc], p->out_zp, p->act_min,
                                    p->act_max);
            }
        }
    }
}

/* Depthwise (channel multiplier 1, no dilation); k is a constant at the 3x3 / 5x5 call
 * sites so the compiler specialises the window loops. */
static inline void conv_dw(const emb_conv_params *p, const int8_t *in, const int8_t *weight,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           int8_t *out, const int32_t kh_n, const int32_t kw_n)
{
    const int32_t c = p->in_c, zp = p->in_zp;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        int32_t kh0, kh1;
        emb_window(oy, p->stride_h, p->pad_top, 1, kh_n, p->in_h, &kh0, &kh1);
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            int32_t kw0, kw1;
            emb_window(ox, p->stride_w, p->pad_left, 1, kw_n, p->in_w, &kw0, &kw1);
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int8_t *o = out + (oy * p->out_w + ox) * c;
            for (int32_t ch = 0; ch < c; ch++) {
                const int8_t *w = weight + ch * kh_n * kw_n;
                int32_t acc = bias[ch];
                for (int32_t kh = kh0; kh < kh1; kh++) {
                    const int8_t *x = in + ((iy0 + kh) * p->in_w + ix0 + kw0) * c + ch;
                    for (int32_t kw = kw0; kw < kw1; kw++)
                        acc += ((int32_t)x[(kw - kw0) * c] - zp) * (int32_t)w[kh * kw_n + kw];
                }
                o[ch] = emb_requant(acc, mult[ch], shift[ch], p->out_zp, p->act_min,
                                    p->act_max);
            }
        }
    }
}

void emb_conv2d_s8(const emb_conv_params *p, const int8_t *in, const int8_t *weight,
                   const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out)
{
    const int depthwise = p->groups == p->in_c && p->groups == p->out_c && p->groups > 1;
    const int undilated = p->dil_h == 1 && p->dil_w == 1;
    if (p->groups == 1 && p->k_h == 1 && p->k_w == 1)
        conv_1x1(p, in, weight, bias, mult, shift, out);
    else if (depthwise && undilated && p->k_h == 3 && p->k_w == 3)
        conv_dw(p, in, weight, bias, mult, shift, out, 3, 3);
    else if (depthwise && undilated && p->k_h == 5 && p->k_w == 5)
        conv_dw(p, in, weight, bias, mult, shift, out, 5, 5);
    else if (depthwise && undilated)
        conv_dw(p, in, weight, bias, mult, shift, out, p->k_h, p->k_w);
    else
        emb_conv2d_generic_s8(p, in, weight, bias, mult, shift, out);
}
