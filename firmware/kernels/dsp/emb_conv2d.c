/* conv2d for Cortex-M4/M7 with the DSP extension (SXTB16 + SMLAD); inner loops in
 * emb_dsp_loops.h. Requantization: emb_rq_apply (exact, emb_fixedpoint.h) when every
 * channel has a right shift, else emb_requant.
 * - pointwise (1x1, groups 1): 2 output channels x 2 pixels register-blocked; dense inputs
 *   with C % 4 == 0 run whole pixel pairs per call: C >= 32 widens the pair once on the
 *   stack (4 * C bytes, C <= 256) and runs every channel pair over it, smaller C folds the
 *   zero point into the bias and runs every pixel pair of a channel pair;
 * - groups 1, small window (K = KH * KW * C <= 256, OC <= 32: the first conv), weights
 *   (OC, K4) zero-padded by packing.py: windows of 2 pixels copied to the stack (512 bytes),
 *   then the pointwise loop;
 * - groups 1, any other kernel: each kernel row is one contiguous run of k_w * C bytes in both
 *   the NHWC input and the OHWI weight, so it is a dot product (2 channels x 2 pixels inside
 *   the image, 2 channels x 1 pixel at the borders);
 * - depthwise: 4 channels per word, weights packed (KH, KW, C) by packing.py; 3x3 rows
 *   through dw4_row, straight from the input inside the image, from a zero-point-padded
 *   copy of the 3 rows (stack, at most 1.5 KB) at the borders;
 * - anything else (grouped, dilated along W): the portable generic loop. */
#include <string.h>
#include "emb_kernels_internal.h"
#include "emb_fixedpoint.h"
#include "emb_dsp.h"
#include "emb_dsp_loops.h"

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

enum { PWX_C_MAX = 256 };

/* Pixels x0 and x0 + c (c % 4 == 0) minus zp as pwx_run's widened pair. */
static inline void widen_pair(const int8_t *x0, int32_t c, int32_t zp2, int32_t *xb)
{
    for (int32_t g = 0; g < c; g += 4) {
        const int32_t u = emb_rd4(x0 + g), v = emb_rd4(x0 + c + g);
        xb[g] = __sxtab16(zp2, u);
        xb[g + 1] = emb_sxtab16_odd(zp2, u);
        xb[g + 2] = __sxtab16(zp2, v);
        xb[g + 3] = emb_sxtab16_odd(zp2, v);
    }
}

/* conv_pointwise for dense inputs, C % 4 == 0, C <= PWX_C_MAX and fast requantization:
 * pixel pairs outer (widened once on the stack, 4 * C bytes), output channel pairs inner;
 * the last odd output channel is left to the caller. */
static void pointwise_widened(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                              const int32_t *bias, const int32_t *mult, const int32_t *shift,
                              int8_t *out)
{
    const int32_t n_pix = p->out_h * p->out_w, c = p->in_c, oc_n = p->out_c;
    const int32_t zp2 = emb_neg_zp2(p->in_zp);
    const emb_out4 ob = emb_out4_make(p->out_zp, p->act_min, p->act_max);
    int32_t xb[PWX_C_MAX];
    for (int32_t pix = 0; pix < n_pix; pix += 2) {
        const int32_t p0 = pix + 1 < n_pix ? pix : n_pix - 2;   /* odd end: overlap */
        widen_pair(in + p0 * c, c, zp2, xb);
        pwx_ctx k = {xb, c, bias, mult, shift, out + p0 * oc_n, oc_n, oc_n >> 1, ob.zp128,
                     ob.lo4, ob.hi4};
        pwx_run(&k, w);
    }
}

/* bias - zp * sum(w) over n weights (wrapping, as the accumulation). */
static int32_t fold_zp(int32_t bias, const int8_t *w, int32_t n, int32_t zp)
{
    int32_t s = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        const int32_t v = emb_rd4(w + i);
        s = __smlad(__sxtb16(v), 0x00010001, s);
        s = __smlad(emb_sxtb16_odd(v), 0x00010001, s);
    }
    for (; i < n; i++) s += w[i];
    return (int32_t)((uint32_t)bias - (uint32_t)zp * (uint32_t)s);
}

/* Requantize a 2 pixels x 2 channels block a[] and store it (o0[0..1], o1[0..1]). */
static inline __attribute__((always_inline)) void store_2x2(
    const emb_conv_params *p, const int32_t a[4], int fast, const emb_rq r[2],
    const emb_out4 *ob, const int32_t *mult, const int32_t *shift, int8_t *o0, int8_t *o1)
{
    if (fast) {
        const uint32_t v = emb_rq4(a[0], a[1], a[2], a[3], r, r, ob);
        emb_wr2(o0, v);
        emb_wr2(o1, v >> 16);
    } else {
        o0[0] = REQ(a[0], 0);
        o0[1] = REQ(a[1], 1);
        o1[0] = REQ(a[2], 0);
        o1[1] = REQ(a[3], 1);
    }
}

/* Pointwise: output channel pairs outer (zero point folded into their bias, requant
 * constants hoisted), 2 pixels x 2 channels per SMLAD block. */
static void conv_pointwise(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           int8_t *out)
{
    const int32_t n_pix = p->out_h * p->out_w, c = p->in_c, oc_n = p->out_c;
    const int dense = p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 &&
                      p->pad_left == 0 && p->in_w == p->out_w && p->in_h == p->out_h;
    const emb_out4 ob = emb_out4_make(p->out_zp, p->act_min, p->act_max);
    int fast_all = 1;
    for (int32_t j = 0; j < oc_n; j++) fast_all &= emb_rq_fast(mult[j], shift[j]);
    int32_t oc = 0;
    if (dense && fast_all && (c & 3) == 0 && c >= 32 && c <= PWX_C_MAX && n_pix >= 2 &&
        oc_n >= 2) {   /* below 32 channels the per-pair run is cheaper */
        pointwise_widened(p, in, w, bias, mult, shift, out);
        oc = oc_n & ~1;
    }
    for (; oc + 2 <= oc_n; oc += 2) {
        const int8_t *w0 = w + oc * c, *w1 = w0 + c;
        const int32_t *m2 = mult + oc, *s2 = shift + oc;
        const int fast = emb_rq_fast(m2[0], s2[0]) && emb_rq_fast(m2[1], s2[1]);
        const emb_rq r[2] = {emb_rq_make(m2[0], fast ? s2[0] : -1),
                             emb_rq_make(m2[1], fast ? s2[1] : -1)};
        const int32_t b0 = fold_zp(bias[oc], w0, c, p->in_zp);
        const int32_t b1 = fold_zp(bias[oc + 1], w1, c, p->in_zp);
        int32_t pix = 0;
        if (dense && fast && (c & 3) == 0 && n_pix >= 2) {   /* all pixel pairs at once */
            const pw_ctx k = {{r[0], r[1]}, {b0, b1}, ob.zp128, ob.lo4, ob.hi4, oc_n, c};
            pw_run(in, w0, &k, n_pix >> 1, out + oc);
            if (n_pix & 1)   /* last pixel: pair it with the one before (computed twice) */
                pw_run(in + (n_pix - 2) * c, w0, &k, 1, out + (n_pix - 2) * oc_n + oc);
            pix = n_pix;
        }
        for (; pix + 2 <= n_pix; pix += 2) {
            const int8_t *x0, *x1;
            if (dense) {
                x0 = in + pix * c;
                x1 = x0 + c;
            } else {
                x0 = pw_src(p, in, pix);
                x1 = pw_src(p, in, pix + 1);
            }
            int32_t a[4] = {b0, b1, b0, b1};
            if (dense) {
                dot_2x2_rows(x0, w0, c, a);
            } else if (x0 && x1) {
                dot_2x2_raw(x0, x1, w0, w1, c, a);
            } else {   /* padding: a padded pixel is the bias alone */
                int32_t t[4] = {b0, b1, b0, b1}, u[4] = {b0, b1, b0, b1};
                if (x0) dot_2x2_raw(x0, x0, w0, w1, c, t);
                if (x1) dot_2x2_raw(x1, x1, w0, w1, c, u);
                a[0] = x0 ? t[0] : bias[oc];
                a[1] = x0 ? t[1] : bias[oc + 1];
                a[2] = x1 ? u[0] : bias[oc];
                a[3] = x1 ? u[1] : bias[oc + 1];
            }
            int8_t *o0 = out + pix * oc_n + oc;
            store_2x2(p, a, fast, r, &ob, m2, s2, o0, o0 + oc_n);
        }
        if (pix < n_pix) {
            const int8_t *x = dense ? in + pix * c : pw_src(p, in, pix);
            int32_t a[4] = {b0, b1, b0, b1};
            if (x) dot_2x2_raw(x, x, w0, w1, c, a);
            else a[0] = bias[oc], a[1] = bias[oc + 1];
            int8_t *o = out + pix * oc_n + oc;
            int8_t tmp[2];
            store_2x2(p, a, fast, r, &ob, m2, s2, o, tmp);
        }
    }
    if (oc < oc_n) {   /* last odd channel */
        const int8_t *w0 = w + oc * c;
        for (int32_t pix = 0; pix < n_pix; pix++) {
            const int8_t *x = dense ? in + pix * c : pw_src(p, in, pix);
            const int32_t a = x ? emb_dot_1x1(x, w0, c, p->in_zp, bias[oc]) : bias[oc];
            out[pix * oc_n + oc] = REQ(a, oc);
        }
    }
}

enum { SMALL_K_MAX = 256, SMALL_OC_MAX = 32 };   /* packing.py: DSP_SMALL_K_MAX / _OC_MAX */

/* dst[0..n) = src[0..n) / = v, a word at a time. */
static inline void copy_run(int8_t *dst, const int8_t *src, int32_t n)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) emb_wr4(dst + i, (uint32_t)emb_rd4(src + i));
    for (; i < n; i++) dst[i] = src[i];
}

static inline void fill_run(int8_t *dst, int8_t v, int32_t n)
{
    for (int32_t i = 0; i < n; i++) dst[i] = v;
}

/* The (KH, KW, C) window of output pixel (oy, ox) as K bytes; padded taps hold the zero
 * point (they then add zp * w, which the zp * sum(w) correction takes away again). */
static void im2col(const emb_conv_params *p, const int8_t *in, int32_t oy, int32_t ox,
                   int8_t *dst)
{
    const int32_t c = p->in_c, run = p->k_w * c, row = p->dil_h * p->in_w * c;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int cols_ok = p->dil_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w;
    if (cols_ok && iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h) {   /* interior */
        const int8_t *src = in + (iy0 * p->in_w + ix0) * c;
        for (int32_t kh = 0; kh < p->k_h; kh++, dst += run, src += row) copy_run(dst, src, run);
        return;
    }
    for (int32_t kh = 0; kh < p->k_h; kh++, dst += run) {
        const int32_t iy = iy0 + kh * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            fill_run(dst, (int8_t)p->in_zp, run);
        } else if (cols_ok) {
            copy_run(dst, in + (iy * p->in_w + ix0) * c, run);
        } else {
            for (int32_t kw = 0; kw < p->k_w; kw++) {
                const int32_t ix = ix0 + kw * p->dil_w;
                if (ix < 0 || ix >= p->in_w) fill_run(dst + kw * c, (int8_t)p->in_zp, c);
                else copy_run(dst + kw * c, in + (iy * p->in_w + ix) * c, c);
            }
        }
    }
}

/* im2col of pixel pix and the next one (or pix again at the end), rows k apart. */
static inline void im2col_2(const emb_conv_params *p, const int8_t *in, int32_t pix,
                            int32_t n_pix, int32_t k, int8_t *dst)
{
    int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
    im2col(p, in, oy, ox, dst);
    if (pix + 1 < n_pix && ++ox == p->out_w) ox = 0, oy++;
    im2col(p, in, oy, ox, dst + k);
}

/* groups 1 with a small window (K = KH * KW * C <= SMALL_K_MAX, OC <= SMALL_OC_MAX: the
 * first conv), weights (OC, K4) zero-padded by packing.py: the windows of 2 pixels copied
 * next to each other on the stack (K4 bytes apart, like 2 pointwise pixels), then the
 * pointwise 2 x 2 SMLAD loop over K4. */
static void conv_small(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                       const int32_t *bias, const int32_t *mult, const int32_t *shift,
                       int8_t *out)
{
    const int32_t k = (p->k_h * p->k_w * p->in_c + 3) & ~3;
    const int32_t n_pix = p->out_h * p->out_w, oc_n = p->out_c;
    const emb_out4 ob = emb_out4_make(p->out_zp, p->act_min, p->act_max);
    int8_t buf[2 * SMALL_K_MAX] __attribute__((aligned(4)));
    memset(buf, 0, sizeof buf);   /* the K..K4 padding stays 0 */
    int32_t fb[SMALL_OC_MAX];
    emb_rq rr[SMALL_OC_MAX];
    int fast = 1;
    for (int32_t oc = 0; oc < oc_n; oc++) fast &= emb_rq_fast(mult[oc], shift[oc]);
    for (int32_t oc = 0; oc < oc_n; oc++) {
        fb[oc] = fold_zp(bias[oc], w + oc * k, k, p->in_zp);
        rr[oc] = emb_rq_make(mult[oc], fast ? shift[oc] : -1);
    }
    int32_t xb[SMALL_K_MAX];
    for (int32_t pix = 0; pix < n_pix; pix += 2) {
        const int32_t p0 = pix + 1 < n_pix || n_pix < 2 ? pix : n_pix - 2;   /* odd end */
        const int two = p0 + 1 < n_pix;
        int8_t *o0 = out + p0 * oc_n, *o1 = two ? o0 + oc_n : 0;
        int8_t spare[2];
        im2col_2(p, in, p0, n_pix, k, buf);
        int32_t oc = 0;
        if (fast && two && oc_n >= 2) {   /* widened once, all channel pairs in one call */
            widen_pair(buf, k, emb_neg_zp2(p->in_zp), xb);
            pwx_ctx kx = {xb, k, bias, mult, shift, o0, oc_n, oc_n >> 1, ob.zp128, ob.lo4,
                          ob.hi4};
            pwx_run(&kx, w);
            oc = oc_n & ~1;
        }
        for (; oc + 2 <= oc_n; oc += 2) {
            int32_t a[4] = {fb[oc], fb[oc + 1], fb[oc], fb[oc + 1]};
            dot_2x2_rows(buf, w + oc * k, k, a);
            store_2x2(p, a, fast, rr + oc, &ob, mult + oc, shift + oc, o0 + oc,
                      two ? o1 + oc : spare);
        }
        if (oc < oc_n) {
            o0[oc] = REQ(emb_dot_1x1(buf, w + oc * k, k, 0, fb[oc]), oc);
            if (two) o1[oc] = REQ(emb_dot_1x1(buf + k, w + oc * k, k, 0, fb[oc]), oc);
        }
    }
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

/* First output index whose window starts inside the input, and one past the last whose
 * window ends inside it (the interior, where every tap is valid). */
static void interior(int32_t out_n, int32_t stride, int32_t pad, int32_t dil, int32_t k,
                     int32_t in_n, int32_t *lo, int32_t *hi)
{
    int32_t a = (pad + stride - 1) / stride, b = out_n;
    while (b > a && (b - 1) * stride - pad + (k - 1) * dil >= in_n) b--;
    *lo = a < out_n ? a : out_n;
    *hi = b > *lo ? b : *lo;
}

/* The 3x3 window of channels ch..ch+3 of output pixel (oy, ox), one word per tap; taps in
 * the padding hold the zero point in every byte (x - zp = 0 there). */
static inline void border_patch(const emb_conv_params *p, const int8_t *in, int32_t oy,
                                int32_t ox, int32_t ch, int32_t patch[9])
{
    const int32_t zp4 = (int32_t)(((uint32_t)p->in_zp & 0xFFu) * 0x01010101u);
    const int32_t c = p->in_c, in_w = p->in_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    for (int32_t kh = 0; kh < 3; kh++) {
        const int32_t iy = iy0 + kh * p->dil_h;
        const int8_t *r = in + (iy * in_w + ix0) * c + ch;
        const int row_ok = (uint32_t)iy < (uint32_t)p->in_h;
        patch[kh * 3] = row_ok && (uint32_t)ix0 < (uint32_t)in_w ? emb_rd4(r) : zp4;
        patch[kh * 3 + 1] = row_ok && (uint32_t)(ix0 + 1) < (uint32_t)in_w ? emb_rd4(r + c) : zp4;
        patch[kh * 3 + 2] = row_ok && (uint32_t)(ix0 + 2) < (uint32_t)in_w ? emb_rd4(r + 2 * c)
                                                                            : zp4;
    }
}

enum { DW_WPAD_MAX = 128 };

/* Input columns ix0 .. ix0 + n - 1 of the 3 rows under output row oy, channels ch..ch+3,
 * one word per column (3 rows of n words); the padding holds the zero point in every byte. */
static void padded_rows(const emb_conv_params *p, const int8_t *in, int32_t oy, int32_t ch,
                        int32_t ix0, int32_t n, int32_t *rows)
{
    const int32_t zp4 = (int32_t)(((uint32_t)p->in_zp & 0xFFu) * 0x01010101u);
    const int32_t c = p->in_c;
    const int32_t j_lo = ix0 < 0 ? (-ix0 < n ? -ix0 : n) : 0;
    const int32_t j_hi = p->in_w - ix0 < n ? (p->in_w - ix0 > j_lo ? p->in_w - ix0 : j_lo) : n;
    for (int32_t kh = 0; kh < 3; kh++, rows += n) {
        const int32_t iy = oy * p->stride_h - p->pad_top + kh * p->dil_h;
        int32_t j = 0;
        if (iy >= 0 && iy < p->in_h) {
            const int8_t *src = in + (iy * p->in_w + ix0 + j_lo) * c + ch;
            for (; j < j_lo; j++) rows[j] = zp4;
            for (; j < j_hi; j++, src += c) rows[j] = emb_rd4(src);
        }
        for (; j < n; j++) rows[j] = zp4;
    }
}

/* Output pixels ox0 .. ox0 + n - 1 of row oy (3x3, fast requantization) through dw4_row:
 * straight from the input when every tap is inside, else from padded_rows. */
static void dw4_span(const emb_conv_params *p, const int8_t *in, int32_t oy, int32_t ox0,
                     int32_t n, int32_t ch, int inside, dw4_ctx *k, int32_t *rows, int8_t *out)
{
    const int32_t c = p->in_c, s = p->stride_w;
    const int32_t ix0 = ox0 * s - p->pad_left;
    int8_t *o = out + (oy * p->out_w + ox0) * c + ch;
    if (n <= 0) return;
    if (inside) {
        k->x_step = s * c;
        dw4_row(in + ((oy * p->stride_h - p->pad_top) * p->in_w + ix0) * c + ch, c,
                p->dil_h * p->in_w * c, k, o, n);
    } else {
        const int32_t cols = (n - 1) * s + 3;
        padded_rows(p, in, oy, ch, ix0, cols, rows);
        k->x_step = s * 4;
        dw4_row((const int8_t *)rows, 4, cols * 4, k, o, n);
    }
}

/* Depthwise, weights (KH, KW, C): blocks of 4 channels outer (requant constants and, for
 * 3x3, SXTB16-split weights hoisted), pixels inner; 4 channels per word load, SMLABB /
 * SMLATT per lane, 4 outputs requantized into one word. */
static void conv_depthwise(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           int8_t *out)
{
    const int32_t c = p->in_c, zp = p->in_zp, zp2 = emb_neg_zp2(zp);
    const int32_t x_row = p->dil_h * p->in_w * c, x_col = p->dil_w * c;
    const int32_t w_row = p->k_w * c;
    const int k3 = p->k_h == 3 && p->k_w == 3 && p->dil_w == 1;
    const emb_out4 ob = emb_out4_make(p->out_zp, p->act_min, p->act_max);
    int32_t ix_lo, ix_hi, iy_lo, iy_hi;
    interior(p->out_w, p->stride_w, p->pad_left, p->dil_w, p->k_w, p->in_w, &ix_lo, &ix_hi);
    interior(p->out_h, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h, &iy_lo, &iy_hi);
    const int32_t wpad = (p->out_w - 1) * p->stride_w + 3;   /* window columns of a row */
    int32_t rows[3 * DW_WPAD_MAX];
    int32_t ch = 0;
    for (; ch + 4 <= c; ch += 4) {
        const int32_t *m4 = mult + ch, *s4 = shift + ch;
        const int fast = emb_rq_fast(m4[0], s4[0]) && emb_rq_fast(m4[1], s4[1]) &&
                         emb_rq_fast(m4[2], s4[2]) && emb_rq_fast(m4[3], s4[3]);
        dw4_ctx k;
        for (int j = 0; j < 4; j++) {
            k.r[j] = emb_rq_make(m4[j], fast ? s4[j] : -1);
            k.bias[j] = bias[ch + j];
        }
        for (int32_t t = 0; k3 && t < 9; t++) {
            const int32_t wv = emb_rd4(w + t * c + ch);
            k.wx[2 * t] = __sxtb16(wv);
            k.wx[2 * t + 1] = emb_sxtb16_odd(wv);
        }
        k.zp2 = zp2;
        k.zp128 = ob.zp128;
        k.lo4 = ob.lo4;
        k.hi4 = ob.hi4;
        k.x_step = p->stride_w * c;
        k.o_step = c;
        if (fast && k3 && wpad <= DW_WPAD_MAX) {   /* every pixel through dw4_row */
            for (int32_t oy = 0; oy < p->out_h; oy++) {
                if (oy >= iy_lo && oy < iy_hi && wpad >= 25) {   /* wide: copy borders only */
                    dw4_span(p, in, oy, 0, ix_lo, ch, 0, &k, rows, out);
                    dw4_span(p, in, oy, ix_lo, ix_hi - ix_lo, ch, 1, &k, rows, out);
                    dw4_span(p, in, oy, ix_hi, p->out_w - ix_hi, ch, 0, &k, rows, out);
                } else {
                    dw4_span(p, in, oy, 0, p->out_w, ch, 0, &k, rows, out);
                }
            }
            continue;
        }
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            int32_t kh0, kh1;
            emb_window(oy, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h, &kh0, &kh1);
            const int32_t iy = oy * p->stride_h - p->pad_top + kh0 * p->dil_h;
            const int row_in = k3 && oy >= iy_lo && oy < iy_hi;
            int8_t *o = out + oy * p->out_w * c + ch;
            for (int32_t ox = 0; ox < p->out_w; ox++, o += c) {
                int32_t a[4] = {bias[ch], bias[ch + 1], bias[ch + 2], bias[ch + 3]};
                if (row_in && ox >= ix_lo && ox < ix_hi) {   /* interior 3x3 */
                    const int8_t *x = in + (iy * p->in_w + ox * p->stride_w - p->pad_left) * c;
                    if (fast) {   /* the whole interior run at once */
                        dw4_row(x + ch, c, x_row, &k, o, ix_hi - ox);
                        o += (ix_hi - 1 - ox) * c;
                        ox = ix_hi - 1;
                        continue;
                    }
                    dw4_3x3(x + ch, c, x_row, k.wx, zp2, a);
                } else if (fast && k3) {   /* border: window copied, padding = zp */
                    int32_t patch[9];
                    border_patch(p, in, oy, ox, ch, patch);
                    dw4_row((const int8_t *)patch, 4, 12, &k, o, 1);
                    continue;
                } else {
                    int32_t kw0, kw1;
                    emb_window(ox, p->stride_w, p->pad_left, p->dil_w, p->k_w, p->in_w, &kw0,
                               &kw1);
                    const int32_t ix = ox * p->stride_w - p->pad_left + kw0 * p->dil_w;
                    const int32_t nh = kh1 - kh0, nw = kw1 - kw0;
                    if (nh > 0 && nw > 0)
                        dw4_taps(in + (iy * p->in_w + ix) * c + ch,
                                 w + (kh0 * p->k_w + kw0) * c + ch, nh, nw, x_row, x_col,
                                 w_row, c, zp2, a);
                }
                if (fast) {
                    emb_wr4(o, emb_rq4(a[0], a[1], a[2], a[3], k.r, k.r + 2, &ob));
                } else {
                    for (int j = 0; j < 4; j++) o[j] = REQ(a[j], ch + j);
                }
            }
        }
    }
    for (; ch < c; ch++) {   /* channels left over by the blocks of 4 */
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            int32_t kh0, kh1;
            emb_window(oy, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h, &kh0, &kh1);
            const int32_t iy = oy * p->stride_h - p->pad_top + kh0 * p->dil_h;
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                int32_t kw0, kw1;
                emb_window(ox, p->stride_w, p->pad_left, p->dil_w, p->k_w, p->in_w, &kw0, &kw1);
                const int32_t ix = ox * p->stride_w - p->pad_left + kw0 * p->dil_w;
                const int8_t *xw = in + (iy * p->in_w + ix) * c + ch;
                const int8_t *ww = w + (kh0 * p->k_w + kw0) * c + ch;
                int32_t a = bias[ch];
                for (int32_t kh = 0; kh < kh1 - kh0; kh++)
                    for (int32_t kw = 0; kw < kw1 - kw0; kw++)
                        a += ((int32_t)xw[kh * x_row + kw * x_col] - zp) * ww[kh * w_row + kw * c];
                out[(oy * p->out_w + ox) * c + ch] = REQ(a, ch);
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
    else if (p->groups == 1 && p->out_c <= SMALL_OC_MAX &&
             p->k_h * p->k_w * p->in_c <= SMALL_K_MAX)
        conv_small(p, in, weight, bias, mult, shift, out);
    else if (p->groups == 1 && p->dil_w == 1)
        conv_rows(p, in, weight, bias, mult, shift, out);
    else
        emb_conv2d_generic_s8(p, in, weight, bias, mult, shift, out);
}
