/* conv2d for Cortex-M4/M7 with the DSP extension (SXTB16 + SMLAD).
 * - pointwise (1x1, groups 1): 2 output channels x 2 pixels register-blocked;
 * - groups 1, any kernel: each kernel row is one contiguous run of k_w * C bytes in both
 *   the NHWC input and the OHWI weight, so it is a dot product (2 channels x 2 pixels inside
 *   the image, 2 channels x 1 pixel at the borders);
 * - depthwise: 4 channels per word, weights packed (KH, KW, C) by packing.py;
 * - anything else (grouped, dilated along W): the portable generic loop. */
#include "emb_kernels_internal.h"
#include "emb_fixedpoint.h"
#include "emb_dsp.h"

/* acc[2*i + j] += (x_i - zp) . w_j over n values: 2 pixels x 2 output channels. */
static inline void dot_2x2(const int8_t *x0, const int8_t *x1, const int8_t *w0,
                           const int8_t *w1, int32_t n, int32_t zp, int32_t acc[4])
{
    const int32_t zp2 = emb_neg_zp2(zp);
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3], i = 0;
    for (; i + 4 <= n; i += 4) {
        const int32_t u = emb_rd4(x0 + i), v = emb_rd4(x1 + i);
        const int32_t ua = __sxtab16(zp2, u), ub = emb_sxtab16_odd(zp2, u);
        const int32_t va = __sxtab16(zp2, v), vb = emb_sxtab16_odd(zp2, v);
        const int32_t p = emb_rd4(w0 + i);
        const int32_t pa = __sxtb16(p), pb = emb_sxtb16_odd(p);
        a00 = __smlad(ua, pa, a00);
        a00 = __smlad(ub, pb, a00);
        a10 = __smlad(va, pa, a10);
        a10 = __smlad(vb, pb, a10);
        const int32_t q = emb_rd4(w1 + i);
        const int32_t qa = __sxtb16(q), qb = emb_sxtb16_odd(q);
        a01 = __smlad(ua, qa, a01);
        a01 = __smlad(ub, qb, a01);
        a11 = __smlad(va, qa, a11);
        a11 = __smlad(vb, qb, a11);
    }
    for (; i < n; i++) {
        const int32_t u = (int32_t)x0[i] - zp, v = (int32_t)x1[i] - zp;
        a00 += u * w0[i];
        a01 += u * w1[i];
        a10 += v * w0[i];
        a11 += v * w1[i];
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

#define REQ(acc, oc) emb_requant((acc), mult[oc], shift[oc], p->out_zp, p->act_min, p->act_max)

/* Input pixel of a 1x1 conv's output pixel, or NULL where it lies in the padding. */
static const int8_t *pw_src(const emb_conv_params *p, const int8_t *in, int32_t pix)
{
    const int32_t iy = (pix / p->out_w) * p->stride_h - p->pad_top;
    const int32_t ix = (pix % p->out_w) * p->stride_w - p->pad_left;
    if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) return 0;
    return in + (iy * p->in_w + ix) * p->in_c;
}

/* One output pixel, all channels: sum over `rows` runs of n values (x rows x_step apart,
 * weight rows w_step apart); x == NULL gives the bias alone. */
static void pixel_1(const emb_conv_params *p, const int8_t *x, int32_t x_step,
                    const int8_t *w, int32_t w_step, int32_t w_oc, int32_t rows, int32_t n,
                    const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *o)
{
    int32_t oc = 0;
    for (; oc + 2 <= p->out_c; oc += 2) {
        int32_t a0 = bias[oc], a1 = bias[oc + 1];
        const int8_t *w0 = w + oc * w_oc, *w1 = w0 + w_oc;
        for (int32_t r = 0; x && r < rows; r++)
            emb_dot_1x2(x + r * x_step, w0 + r * w_step, w1 + r * w_step, n, p->in_zp, &a0, &a1);
        o[oc] = REQ(a0, oc);
        o[oc + 1] = REQ(a1, oc + 1);
    }
    if (oc < p->out_c) {
        int32_t a = bias[oc];
        for (int32_t r = 0; x && r < rows; r++)
            a = emb_dot_1x1(x + r * x_step, w + oc * w_oc + r * w_step, n, p->in_zp, a);
        o[oc] = REQ(a, oc);
    }
}

/* Two output pixels whose windows are both complete (same rows, same length). */
static void pixel_2(const emb_conv_params *p, const int8_t *x0, const int8_t *x1,
                    int32_t x_step, const int8_t *w, int32_t w_step, int32_t w_oc, int32_t rows,
                    int32_t n, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                    int8_t *o0, int8_t *o1)
{
    int32_t oc = 0;
    for (; oc + 2 <= p->out_c; oc += 2) {
        int32_t acc[4] = {bias[oc], bias[oc + 1], bias[oc], bias[oc + 1]};
        const int8_t *w0 = w + oc * w_oc, *w1 = w0 + w_oc;
        for (int32_t r = 0; r < rows; r++)
            dot_2x2(x0 + r * x_step, x1 + r * x_step, w0 + r * w_step, w1 + r * w_step, n,
                    p->in_zp, acc);
        o0[oc] = REQ(acc[0], oc);
        o0[oc + 1] = REQ(acc[1], oc + 1);
        o1[oc] = REQ(acc[2], oc);
        o1[oc + 1] = REQ(acc[3], oc + 1);
    }
    if (oc < p->out_c) {
        int32_t a0 = bias[oc], a1 = bias[oc];
        for (int32_t r = 0; r < rows; r++) {
            a0 = emb_dot_1x1(x0 + r * x_step, w + oc * w_oc + r * w_step, n, p->in_zp, a0);
            a1 = emb_dot_1x1(x1 + r * x_step, w + oc * w_oc + r * w_step, n, p->in_zp, a1);
        }
        o0[oc] = REQ(a0, oc);
        o1[oc] = REQ(a1, oc);
    }
}

static void conv_pointwise(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           int8_t *out)
{
    const int32_t n_pix = p->out_h * p->out_w, c = p->in_c;
    int32_t pix = 0;
    for (; pix + 2 <= n_pix; pix += 2) {
        const int8_t *x0 = pw_src(p, in, pix), *x1 = pw_src(p, in, pix + 1);
        int8_t *o0 = out + pix * p->out_c, *o1 = o0 + p->out_c;
        if (x0 && x1) {
            pixel_2(p, x0, x1, 0, w, 0, c, 1, c, bias, mult, shift, o0, o1);
        } else {
            pixel_1(p, x0, 0, w, 0, c, 1, c, bias, mult, shift, o0);
            pixel_1(p, x1, 0, w, 0, c, 1, c, bias, mult, shift, o1);
        }
    }
    if (pix < n_pix)
        pixel_1(p, pw_src(p, in, pix), 0, w, 0, c, 1, c, bias, mult, shift,
                out + pix * p->out_c);
}

/* groups == 1, dil_w == 1: kernel rows are contiguous runs of (kw1 - kw0) * C bytes. */
static void conv_rows(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                      const int32_t *bias, const int32_t *mult, const int32_t *shift,
                      int8_t *out)
{
    const int32_t c = p->in_c, w_oc = p->k_h * p->k_w * c;
    const int32_t x_step = p->dil_h * p->in_w * c, w_step = p->k_w * c;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        int32_t kh0, kh1;
        emb_window(oy, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h, &kh0, &kh1);
        const int32_t iy = oy * p->stride_h - p->pad_top + kh0 * p->dil_h;
        const int32_t rows = kh1 - kh0;
        const int8_t *row = rows > 0 ? in + iy * p->in_w * c : in;
        const int8_t *wr = w + kh0 * w_step;
        int32_t ox = 0;
        while (ox < p->out_w) {
            int32_t kw0, kw1, kw0b, kw1b;
            const int32_t ix = ox * p->stride_w - p->pad_left;
            emb_window(ox, p->stride_w, p->pad_left, 1, p->k_w, p->in_w, &kw0, &kw1);
            int8_t *o = out + (oy * p->out_w + ox) * p->out_c;
            if (ox + 1 < p->out_w && kw0 == 0 && kw1 == p->k_w && rows > 0) {
                emb_window(ox + 1, p->stride_w, p->pad_left, 1, p->k_w, p->in_w, &kw0b, &kw1b);
                if (kw0b == 0 && kw1b == p->k_w) {
                    const int8_t *x0 = row + ix * c, *x1 = x0 + p->stride_w * c;
                    pixel_2(p, x0, x1, x_step, wr, w_step, w_oc, rows, p->k_w * c, bias, mult,
                            shift, o, o + p->out_c);
                    ox += 2;
                    continue;
                }
            }
            const int8_t *x = rows > 0 && kw1 > kw0 ? row + (ix + kw0) * c : 0;
            pixel_1(p, x, x_step, wr + kw0 * c, w_step, w_oc, rows, (kw1 - kw0) * c, bias,
                    mult, shift, o);
            ox++;
        }
    }
}

/* 4 neighbouring channels over nh x nw taps: a[i] += (x_i - zp) * w_i per lane (SXTB16
 * splits lanes (0, 2) and (1, 3); SMLABB / SMLATT multiply one lane each). */
static inline __attribute__((always_inline)) void dw4_taps(
    const int8_t *x, const int8_t *w, const int32_t nh, const int32_t nw, int32_t x_row,
    int32_t x_col, int32_t w_row, int32_t w_col, int32_t zp2, int32_t a[4])
{
    int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    for (int32_t kh = 0; kh < nh; kh++) {
        for (int32_t kw = 0; kw < nw; kw++) {
            const int32_t xv = emb_rd4(x + kh * x_row + kw * x_col);
            const int32_t wv = emb_rd4(w + kh * w_row + kw * w_col);
            const int32_t xa = __sxtab16(zp2, xv), xb = emb_sxtab16_odd(zp2, xv);
            const int32_t wa = __sxtb16(wv), wb = emb_sxtb16_odd(wv);
            a0 = __smlabb(xa, wa, a0);
            a2 = __smlatt(xa, wa, a2);
            a1 = __smlabb(xb, wb, a1);
            a3 = __smlatt(xb, wb, a3);
        }
    }
    a[0] = a0; a[1] = a1; a[2] = a2; a[3] = a3;
}

/* dw4_taps over a complete 3x3 window, written out so that gcc unrolls it. */
static inline __attribute__((always_inline)) void dw4_3x3(
    const int8_t *x, const int8_t *w, int32_t x_row, int32_t x_col, int32_t c, int32_t zp2,
    int32_t a[4])
{
    int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
#define EMB_DW_TAP(kh, kw)                                                                  \
    do {                                                                                    \
        const int32_t xv = emb_rd4(x + (kh) * x_row + (kw) * x_col);                        \
        const int32_t wv = emb_rd4(w + ((kh) * 3 + (kw)) * c);                              \
        const int32_t xa = __sxtab16(zp2, xv), xb = emb_sxtab16_odd(zp2, xv);               \
        const int32_t wa = __sxtb16(wv), wb = emb_sxtb16_odd(wv);                           \
        a0 = __smlabb(xa, wa, a0);                                                          \
        a2 = __smlatt(xa, wa, a2);                                                          \
        a1 = __smlabb(xb, wb, a1);                                                          \
        a3 = __smlatt(xb, wb, a3);                                                          \
    } while (0)
    EMB_DW_TAP(0, 0); EMB_DW_TAP(0, 1); EMB_DW_TAP(0, 2);
    EMB_DW_TAP(1, 0); EMB_DW_TAP(1, 1); EMB_DW_TAP(1, 2);
    EMB_DW_TAP(2, 0); EMB_DW_TAP(2, 1); EMB_DW_TAP(2, 2);
#undef EMB_DW_TAP
    a[0] = a0; a[1] = a1; a[2] = a2; a[3] = a3;
}

/* Depthwise, weights (KH, KW, C): 4 channels per word load, SMLABB / SMLATT per lane. */
static void conv_depthwise(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           int8_t *out)
{
    const int32_t c = p->in_c, zp = p->in_zp, zp2 = emb_neg_zp2(zp);
    const int32_t x_row = p->dil_h * p->in_w * c, x_col = p->dil_w * c;
    const int32_t w_row = p->k_w * c;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        int32_t kh0, kh1;
        emb_window(oy, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h, &kh0, &kh1);
        const int32_t iy = oy * p->stride_h - p->pad_top + kh0 * p->dil_h;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            int32_t kw0, kw1;
            emb_window(ox, p->stride_w, p->pad_left, p->dil_w, p->k_w, p->in_w, &kw0, &kw1);
            const int32_t ix = ox * p->stride_w - p->pad_left + kw0 * p->dil_w;
            const int32_t nh = kh1 - kh0, nw = kw1 - kw0;
            const int8_t *xw = nh > 0 && nw > 0 ? in + (iy * p->in_w + ix) * c : in;  /* first tap */
            const int8_t *ww = w + (kh0 * p->k_w + kw0) * c;
            int8_t *o = out + (oy * p->out_w + ox) * c;
            const int full3 = nh == 3 && nw == 3 && p->k_h == 3 && p->k_w == 3;
            int32_t ch = 0;
            for (; ch + 4 <= c; ch += 4) {
                int32_t a[4] = {bias[ch], bias[ch + 1], bias[ch + 2], bias[ch + 3]};
                if (full3)   /* interior 3x3: constant trip counts, fully unrolled */
                    dw4_3x3(xw + ch, ww + ch, x_row, x_col, c, zp2, a);
                else
                    dw4_taps(xw + ch, ww + ch, nh, nw, x_row, x_col, w_row, c, zp2, a);
                o[ch] = REQ(a[0], ch);
                o[ch + 1] = REQ(a[1], ch + 1);
                o[ch + 2] = REQ(a[2], ch + 2);
                o[ch + 3] = REQ(a[3], ch + 3);
            }
            for (; ch < c; ch++) {
                int32_t a = bias[ch];
                for (int32_t kh = 0; kh < nh; kh++)
                    for (int32_t kw = 0; kw < nw; kw++)
                        a += ((int32_t)xw[kh * x_row + kw * x_col + ch] - zp) *
                             ww[kh * w_row + kw * c + ch];
                o[ch] = REQ(a, ch);
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
