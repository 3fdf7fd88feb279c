/* conv2d for Cortex-M55 (Helium).
 * - pointwise (1x1, groups 1): per block of 4 output channels, zp * sum(w) once, then
 *   VMLADAVA over the input channels of each pixel;
 * - groups 1, any kernel (dil_w 1): kernel rows are contiguous k_w * C runs (NHWC / OHWI),
 *   dot products with the weight sums of the valid taps accumulated alongside;
 * - depthwise: 4 channels per vector, weights packed (KH, KW, C) by packing.py;
 * - anything else: the portable generic loop.
 * All paths requantize 4 channels at a time (emb_mve_requant, bit-exact with OPS.md). */
#include "emb_kernels_internal.h"
#include "emb_mve.h"

static void conv_pointwise(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           int8_t *out)
{
    const int32_t c = p->in_c, n_pix = p->out_h * p->out_w;
    for (int32_t oc = 0; oc < p->out_c; oc += 4) {
        const int32_t m = p->out_c - oc < 4 ? p->out_c - oc : 4;
        const mve_pred16_t pr = vctp32q((uint32_t)m);
        const int8_t *wb = w + oc * c;
        int32_t wsum[4] = {0, 0, 0, 0};
        for (int32_t j = 0; j < m; j++)
            for (int32_t i = 0; i < c; i += 16)
                wsum[j] = vaddvaq_s8(wsum[j], vldrbq_z_s8(wb + j * c + i, vctp8q((uint32_t)(c - i))));
        const int32x4_t b = vldrwq_z_s32(bias + oc, pr);
        const int32x4_t base = vsubq_s32(b, vmulq_n_s32(emb_mve_vec4(wsum), p->in_zp));
        const emb_mve_rq rq = emb_mve_rq_load(mult + oc, shift + oc, pr);
        for (int32_t pix = 0; pix < n_pix; pix++) {
            const int32_t iy = (pix / p->out_w) * p->stride_h - p->pad_top;
            const int32_t ix = (pix % p->out_w) * p->stride_w - p->pad_left;
            int32x4_t a = b;                            /* padded pixel: bias alone */
            if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                int32_t acc[4] = {0, 0, 0, 0};
                emb_mve_dot4_nosum(in + (iy * p->in_w + ix) * c, wb, c, c, m, acc);
                a = vaddq_s32(base, emb_mve_vec4(acc));
            }
            vstrbq_p_s32(out + pix * p->out_c + oc,
                         emb_mve_requant(a, rq, p->out_zp, p->act_min, p->act_max), pr);
        }
    }
}

static void conv_rows(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                      const int32_t *bias, const int32_t *mult, const int32_t *shift,
                      int8_t *out)
{
    const int32_t c = p->in_c, w_oc = p->k_h * p->k_w * c, w_row = p->k_w * c;
    for (int32_t oc = 0; oc < p->out_c; oc += 4) {
        const int32_t m = p->out_c - oc < 4 ? p->out_c - oc : 4;
        const mve_pred16_t pr = vctp32q((uint32_t)m);
        const int32x4_t b = vldrwq_z_s32(bias + oc, pr);
        const emb_mve_rq rq = emb_mve_rq_load(mult + oc, shift + oc, pr);
        const int8_t *wb = w + oc * w_oc;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            int32_t kh0, kh1;
            emb_window(oy, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h, &kh0, &kh1);
            const int32_t iy = oy * p->stride_h - p->pad_top + kh0 * p->dil_h;
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                int32_t kw0, kw1;
                emb_window(ox, p->stride_w, p->pad_left, 1, p->k_w, p->in_w, &kw0, &kw1);
                const int32_t ix = ox * p->stride_w - p->pad_left + kw0;
                int32_t acc[4] = {0, 0, 0, 0}, wsum[4] = {0, 0, 0, 0};
                for (int32_t kh = kh0; kw1 > kw0 && kh < kh1; kh++)
                    emb_mve_dot4(in + ((iy + (kh - kh0) * p->dil_h) * p->in_w + ix) * c,
                                 wb + kh * w_row + kw0 * c, w_oc, (kw1 - kw0) * c, m, acc, wsum);
                const int32x4_t a = vsubq_s32(vaddq_s32(b, emb_mve_vec4(acc)),
                                              vmulq_n_s32(emb_mve_vec4(wsum), p->in_zp));
                vstrbq_p_s32(out + (oy * p->out_w + ox) * p->out_c + oc,
                             emb_mve_requant(a, rq, p->out_zp, p->act_min, p->act_max), pr);
            }
        }
    }
}

/* Depthwise, weights (KH, KW, C): 4 channels per vector, (x - zp) * w summed per lane. */
static void conv_depthwise(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           int8_t *out)
{
    const int32_t c = p->in_c, zp = p->in_zp;
    const int32_t x_row = p->dil_h * p->in_w * c, x_col = p->dil_w * c, w_row = p->k_w * c;
    for (int32_t ch = 0; ch < c; ch += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(c - ch));
        const int32x4_t b = vldrwq_z_s32(bias + ch, pr);
        const emb_mve_rq rq = emb_mve_rq_load(mult + ch, shift + ch, pr);
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            int32_t kh0, kh1;
            emb_window(oy, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h, &kh0, &kh1);
            const int32_t iy = oy * p->stride_h - p->pad_top + kh0 * p->dil_h;
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                int32_t kw0, kw1;
                emb_window(ox, p->stride_w, p->pad_left, p->dil_w, p->k_w, p->in_w, &kw0, &kw1);
                const int32_t ix = ox * p->stride_w - p->pad_left + kw0 * p->dil_w;
                int32x4_t a = b;
                for (int32_t kh = 0; kw1 > kw0 && kh < kh1 - kh0; kh++) {
                    const int8_t *x = in + (iy * p->in_w + ix) * c + kh * x_row + ch;
                    const int8_t *wk = w + (kh0 + kh) * w_row + kw0 * c + ch;
                    for (int32_t kw = kw0; kw < kw1; kw++, x += x_col, wk += c) {
                        const int32x4_t xv = vsubq_n_s32(vldrbq_z_s32(x, pr), zp);
                        a = vaddq_s32(a, vmulq_s32(xv, vldrbq_z_s32(wk, pr)));
                    }
                }
                vstrbq_p_s32(out + (oy * p->out_w + ox) * c + ch,
                             emb_mve_requant(a, rq, p->out_zp, p->act_min, p->act_max), pr);
            }
        }
    }
}

void emb_conv2d_s8(const emb_conv_params *p, const int8_t *in, const int8_t *weight,
                   const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out)
{
    if (p->groups == p->in_c && p->groups == p->out_c && p->groups > 1)
        conv_depthwise(p, in, weight, bias, mult, shift, out);   /* (KH, KW, C) weights */
    else if (p->groups == 1 && p->k_h == 1 && p->k_w == 1)
        conv_pointwise(p, in, weight, bias, mult, shift, out);
    else if (p->groups == 1 && p->dil_w == 1)
        conv_rows(p, in, weight, bias, mult, shift, out);
    else
        emb_conv2d_generic_s8(p, in, weight, bias, mult, shift, out);
}
