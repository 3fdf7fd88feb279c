/* conv2d for Cortex-M4/M7 with the DSP extension (SXTB16 + SMLAD); inner loops in
 * emb_dsp_loops.h. Requantization: the exact 6-instruction form of rq_fold / emb_rq_apply
 * (emb_fixedpoint.h; zero point and act_min folded into its constant) when every channel of
 * a block right-shifts by at most 21, else emb_requant.
 * - pointwise (1x1, groups 1), C % 4 == 0, C <= 384, not p->compact: int16 "w16" weights
 *   (packing.py);
 *   chunks of up to 64 output channels (requant table on the stack), pixel pairs widened once,
 *   every channel pair through w16_run (LDM, LDM, 8 SMLAD per 16 MACs);
 * - other pointwise: 2 output channels x 2 pixels per SMLAD block (zero point folded into
 *   the bias), int8 OHWI weights;
 * - groups 1, small window (KH * run4 <= 256 with run4 = KW * C rounded up to 4, OC <= 32:
 *   the first conv): w16 weights with kernel rows padded to run4, each pixel pair's windows
 *   widened straight from the input rows (im2col copy at the borders), then as pointwise;
 * - groups 1, any other kernel: each kernel row is one contiguous run of k_w * C bytes in both
 *   the NHWC input and the OHWI weight, so it is a dot product (2 channels x 2 pixels inside
 *   the image, 2 channels x 1 pixel at the borders);
 * - depthwise 3x3 (no dilation): blocks of 4 channels, weights (KH, KW, C) from packing.py;
 *   input rows widened once per column segment into a ring of 3 rows (x - zp, 0 in the
 *   padding, so borders cost nothing extra) holding the horizontal tap pairs of each output
 *   pixel, every output row one dw3_run (SMLAD on tap pairs);
 * - other depthwise: per pixel, 4 channels per word (SMLABB / SMLATT);
 * - anything else (grouped, dilated along W): the portable generic loop.
 * Stack scratch (no heap): frames of at most 3.49 KB below emb_conv2d_s8's 0.33 KB
 * (gcc -fstack-usage: pointwise w16 3.12 + 0.37 KB, first conv 1.85 + 0.37 KB, depthwise
 * 3x3 2.34 KB). */
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
    int32_t oc = 0;
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

#include "emb_im2col.h"

/* Pixels x0 and x1 (NULL: padding, x - zp = 0) minus zp as w16_run's widened pair, n % 4 == 0. */
static void widen2(const int8_t *x0, const int8_t *x1, int32_t n, int32_t zp2, int32_t *xb)
{
    if (x0 && x1) {
        for (int32_t g = 0; g < n; g += 4, xb += 4) {
            const int32_t u = emb_rd4(x0 + g), v = emb_rd4(x1 + g);
            xb[0] = __sxtab16(zp2, u);
            xb[1] = emb_sxtab16_odd(zp2, u);
            xb[2] = __sxtab16(zp2, v);
            xb[3] = emb_sxtab16_odd(zp2, v);
        }
        return;
    }
    for (int32_t g = 0; g < n; g += 4, xb += 4) {
        const int32_t u = x0 ? emb_rd4(x0 + g) : 0, v = x1 ? emb_rd4(x1 + g) : 0;
        xb[0] = x0 ? __sxtab16(zp2, u) : 0;
        xb[1] = x0 ? emb_sxtab16_odd(zp2, u) : 0;
        xb[2] = x1 ? __sxtab16(zp2, v) : 0;
        xb[3] = x1 ? emb_sxtab16_odd(zp2, v) : 0;
    }
}

/* One pixel's n values (n % 4 == 0) minus zp into its half of a widened pair (xb[4g],
 * xb[4g + 1] for group g: pass xb + 2 for pixel 1). */
static void widen1(const int8_t *x, int32_t n, int32_t zp2, int32_t *xb)
{
    for (int32_t g = 0; g < n; g += 4, xb += 4) {
        const int32_t u = emb_rd4(x + g);
        xb[0] = __sxtab16(zp2, u);
        xb[1] = emb_sxtab16_odd(zp2, u);
    }
}

static inline int rq_fold(const emb_conv_params *p, int32_t m, int32_t s, int32_t base,
                          int32_t sk, int32_t q[4]);

/* The requantization form of a run over channels oc0 .. oc0 + n - 1: 1 if every one is
 * emb_rq_pos_ok (no sign terms), 2 if the clamp is also the whole int8 range (act_min -128,
 * act_max 127: no clamp instructions), else 0. */
static int rq_mode(const emb_conv_params *p, const int32_t *mult, int32_t oc0, int32_t n)
{
    int ok = 1;
    for (int32_t j = 0; j < n; j++) ok &= emb_rq_pos_ok(mult[oc0 + j], p->out_zp, p->act_min);
    return ok ? 1 + (p->act_min == -128 && p->act_max == 127) : 0;
}

/* sk = W16_S + 1 - e for a channel with m > 0 and a right shift e of W16_S - 7 .. W16_S - 1
 * whose scaled accumulator stays an int32: (|bias| + k * 255 * 128) * 2^sk < 2^31 over the k
 * weights; else 0. */
static int32_t w16_sk(int32_t m, int32_t s, int32_t bias, int32_t k)
{
    const int32_t e = -s;
    if (m <= 0 || e < W16_S - 7 || e > W16_S - 1) return 0;
    const uint32_t a_max = (bias < 0 ? 0u - (uint32_t)bias : (uint32_t)bias) +
                           (uint32_t)k * 255u * 128u;
    return a_max < 1u << (30 - W16_S + e) ? W16_S + 1 - e : 0;
}

/* 1 for a linear layer over the whole int8 range (act_min < out_zp, act_min -128, act_max
 * 127) whose every channel has w16_sk > 0: its weights are all scaled (w16_run's signed S
 * form, form 4). */
static int w16_lin(const emb_conv_params *p, const int32_t *bias, const int32_t *mult,
                   const int32_t *shift, int32_t k)
{
    if (p->act_min >= p->out_zp || p->act_min != -128 || p->act_max != 127) return 0;
    for (int32_t oc = 0; oc < p->out_c; oc++)
        if (!w16_sk(mult[oc], shift[oc], bias[oc], k)) return 0;
    return 1;
}

/* The exponent sk by which packing.py (w16_exponents: the same rule) scaled a w16 channel's
 * weights, 0 if not: w16_sk of a ReLU-style channel (act_min >= out_zp), or of every channel
 * of a w16_lin layer (lin). Such a channel is w16_run's S form (as the depthwise one,
 * packing.dw3_table: SMMLA, SAT with ASR #W16_S; the signed S form for lin); in other forms its constants take sk in. */
static int32_t w16_exp(const emb_conv_params *p, int lin, int32_t m, int32_t s, int32_t bias,
                       int32_t k)
{
    return p->act_min >= p->out_zp || lin ? w16_sk(m, s, bias, k) : 0;
}

/* The S forms' R for a channel scaled by 2^sk (f: the output zero point minus SAT's base 0):
 * packing._dw3_s_channel's reasoning with W16_S. */
static inline int32_t w16_r(int32_t sk, int32_t f)
{
    return (1 << (sk - 2)) + (1 << (W16_S - 1)) + f * (1 << W16_S);
}

/* A channel's S-form table words (w16_run form 3, a ReLU-style layer; f = out_zp, SSAT's
 * base 0): {m, R} and the bias, scaled by 2^sk (w16_exp), or for a constant channel m 0 and
 * R = f * 2^W16_S (packing._dw3_s_channel's reasoning: m 0; or a right shift past W16_S - 1 with
 * |a| < 2^(e - 1) - 1, near-dead, whose output is out_zp for every a); 0 if neither. */
static int w16_fold_s(const emb_conv_params *p, int32_t m, int32_t s, int32_t bias, int32_t k,
                      int32_t f, int32_t *mq, int32_t *bq)
{
    const int32_t sk = w16_exp(p, 0, m, s, bias, k), e = -s;   /* ReLU-style: lin moot */
    const uint32_t a_max = (bias < 0 ? 0u - (uint32_t)bias : (uint32_t)bias) +
                           (uint32_t)k * 255u * 128u;
    if (sk > 0) {
        mq[0] = m;
        mq[1] = w16_r(sk, f);
        *bq = bias * (1 << sk);
        return 1;
    }
    if (m != 0 && !(m > 0 && e > W16_S - 1 && e <= 31 && a_max < (1u << (e - 1)) - 1u))
        return 0;
    mq[0] = 0;
    mq[1] = f * (1 << W16_S);
    *bq = bias;
    return 1;
}

/* w16_run's table for the channel pairs from oc0 (n channels, n even; k weights each) in
 * requantization form pos (rq_mode). Form 3 (the S form of 2; every channel w16_fold_s's):
 * per pair the biases b0 b1 b0 b1, then m0 R0 m1 R1 (the output itself, for SSAT) and a word
 * holding W16_LAST at the run's end: W16_TBL_S words. Else per pair b0 b1 b0 b1 (scaled by
 * 2^sk), then rq_fold's constants of both channels as klo, khi, m, klo, khi, e1 (form 1:
 * minus act_min, for USAT and the clamp; 0, 2: the output itself, for SSAT; form 0 only for
 * the whole int8 range, as linear layers have it, else through emb_requant); W16_LAST in the
 * last e1 of each run: 2 * W16_TBL words. Form 4 (the signed S form of a w16_lin layer,
 * form 0 otherwise): per pair b0 b1 b0 b1, m0 R0 H0 m1 R1 H1 and the W16_LAST word
 * (W16_TBL_SN words), H = 2^(sk - 1) subtracted from the SMMLA for a < 0: rq_fold's sign
 * term -2^31 scaled by 2^sk is -H * 2^32. Returns a bit mask of the pairs whose channels
 * both fold (bit j / 2 for the pair at j); the others need emb_requant. *pos becomes 3 or 4
 * where an S form applies. */
static uint32_t w16_table(const emb_conv_params *p, int lin, const int32_t *bias,
                          const int32_t *mult, const int32_t *shift, int32_t oc0, int32_t n,
                          int32_t k, int *pos, int32_t *t)
{
    const int full = p->act_min == -128 && p->act_max == 127;
    const int32_t base = *pos == 1 ? p->act_min : 0, f = p->out_zp - base;
    const uint32_t all = n >= 64 ? ~0u : (1u << (n >> 1)) - 1u;
    int32_t *u = t;
    if (*pos == 0 && lin && n > 0) {   /* every channel scaled (w16_sk > 0) */
        for (int32_t j = 0; j < n; j += 2, u += W16_TBL_SN) {
            for (int32_t i = 0; i < 2; i++) {
                const int32_t oc = oc0 + j + i;
                const int32_t sk = w16_sk(mult[oc], shift[oc], bias[oc], k);
                u[i] = u[i + 2] = bias[oc] * (1 << sk);
                u[4 + 3 * i] = mult[oc];
                u[5 + 3 * i] = w16_r(sk, f);
                u[6 + 3 * i] = 1 << (sk - 1);
            }
            u[10] = j + 2 == n ? W16_LAST : 0;
        }
        *pos = 4;
        return all;
    }
    int s_form = *pos == 2 && n > 0;
    for (int32_t j = 0; j < n && s_form; j += 2, u += W16_TBL_S) {
        for (int32_t i = 0; i < 2 && s_form; i++) {
            const int32_t oc = oc0 + j + i;
            s_form = w16_fold_s(p, mult[oc], shift[oc], bias[oc], k, f, u + 4 + 2 * i, u + i);
            u[i + 2] = u[i];
        }
        u[8] = j + 2 == n ? W16_LAST : 0;
    }
    if (s_form) {
        *pos = 3;
        return all;
    }
    uint32_t fast = 0;
    for (int32_t j = 0; j < n; j += 2, t += 2 * W16_TBL) {
        int ok = 1;
        for (int32_t i = 0; i < 2; i++) {
            const int32_t oc = oc0 + j + i;
            const int32_t sk = w16_exp(p, lin, mult[oc], shift[oc], bias[oc], k);
            int32_t q[4] = {0, 0, 0, 0}, *c = t + 4 + 6 * i;
            t[i] = t[i + 2] = bias[oc] * (1 << sk);
            ok &= rq_fold(p, mult[oc], shift[oc], base, sk, q) && (*pos > 0 || full);
            c[0] = c[3] = q[1];
            c[1] = c[4] = q[2];
            c[2] = q[0];
            c[5] = q[3];
        }
        fast |= (uint32_t)ok << (j >> 1);
    }
    t -= W16_TBL * n;
    const uint32_t ends = fast & ~(fast >> 1);   /* the last pair of each run (the top bit */
    for (uint32_t e = ends; e; e &= e - 1)        /* of the mask always ends one) */
        t[2 * W16_TBL * __builtin_ctz(e) + 15] |= W16_LAST;
    return fast;
}

/* Window of output pixel (oy, ox) readable straight from the input: inside the image (no
 * dilation along W) with run4 bytes of its last row still inside the input array. */
static int w16_inside(const emb_conv_params *p, int32_t oy, int32_t ox, int32_t run4)
{
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t c = p->in_c, row = p->dil_h * p->in_w * c;
    return p->dil_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w && iy0 >= 0 &&
           iy0 + (p->k_h - 1) * p->dil_h < p->in_h &&
           (iy0 * p->in_w + ix0) * c + (p->k_h - 1) * row + run4 <= p->in_h * p->in_w * c;
}

/* Where w16_gather may read windows straight from the input (in: rows from in.oy_b on
 * need w16_inside: run4 bytes of the window's last row might pass the input's end); dense:
 * a 1x1 conv reading input pixel pix for output pixel pix. */
typedef struct {
    emb_inside in;
    int dense;
} w16_geom;

static void w16_geom_make(const emb_conv_params *p, w16_geom *g)
{
    g->in = emb_inside_range(p, 1);
    if (p->in_w * p->in_c < 3) g->in.oy_b = 0;   /* run4 may pass more than one row */
    g->dense = p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 &&
               p->pad_top == 0 && p->pad_left == 0 && p->in_w == p->out_w && p->in_h >= p->out_h;
}

/* The widened pair of output pixels pix = (oy, ox) and pix + 1 (pix again if !two; k values
 * each): a 1x1 conv's input pixels, or (buf != NULL) their windows, kernel rows padded to
 * run4 bytes (the bytes past a row's KW * C have weight 0, so they may be anything). */
static void w16_gather(const emb_conv_params *p, const w16_geom *g, const int8_t *in,
                       int32_t oy, int32_t ox, int two, int32_t k, int8_t *buf, int32_t *xb)
{
    const int32_t zp2 = emb_neg_zp2(p->in_zp), c = p->in_c;
    const int32_t pix = oy * p->out_w + ox;
    if (!buf) {
        if (g->dense) {
            w16_widen(in + pix * c, two ? c : 0, 0, 1, k >> 2, xb, zp2);
            return;
        }
        const int8_t *x0 = pw_src(p, in, pix), *x1 = two ? pw_src(p, in, pix + 1) : x0;
        if (x0 && x1) w16_widen(x0, (int32_t)(x1 - x0), 0, 1, k >> 2, xb, zp2);
        else widen2(x0, x1, k, zp2, xb);
        return;
    }
    const int32_t run4 = (p->k_w * c + 3) & ~3, row = p->dil_h * p->in_w * c;
    const int32_t ox1 = two ? ox + 1 : ox;
    if (ox >= g->in.ox_a && ox1 < g->in.ox_b && oy >= g->in.oy_a &&
        (oy < g->in.oy_b || (w16_inside(p, oy, ox, run4) && w16_inside(p, oy, ox1, run4)))) {
        const int32_t first = ((oy * p->stride_h - p->pad_top) * p->in_w +
                               ox * p->stride_w - p->pad_left) * c;
        w16_widen(in + first, two ? p->stride_w * c : 0, row, p->k_h, run4 >> 2, xb, zp2);
        return;
    }
    for (int32_t i = 0; i < 2; i++) {   /* at the borders: each window through im2col */
        emb_im2col(p, in, oy, ox, buf, run4);
        widen1(buf, k, zp2, xb + 2 * i);
        if (two && ++ox == p->out_w) ox = 0, oy++;
    }
}

/* groups-1 conv with w16 weights (packing.py: pointwise with C % 4 == 0, C <= W16_K_MAX,
 * k = C; small windows, k = KH * run4): chunks of `chunk` output channels outer (their
 * requantization table built once, tbl), pixel pairs inner (widened once per chunk, xb),
 * every run of channel pairs with fast requantization through w16_run. The other pairs
 * (a channel that rq_fold refuses) and the odd last channel (its pair zero-padded by
 * packing.py) take w16_acc + emb_requant. */
static void conv_w16(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                     const int32_t *bias, const int32_t *mult, const int32_t *shift,
                     int8_t *out, int32_t k, int32_t chunk, int32_t *tbl, int32_t *xb,
                     int8_t *buf)
{
    const int32_t n_pix = p->out_h * p->out_w, oc_n = p->out_c;
    const uint32_t lo4 = ((uint32_t)p->act_min & 0xFFu) * 0x01010101u;
    const uint32_t hi4 = (uint32_t)(p->act_max - p->act_min) * 0x01010101u;
    const int32_t c = p->in_c, zp2 = emb_neg_zp2(p->in_zp);
    const int32_t run4 = (p->k_w * c + 3) & ~3, row = p->dil_h * p->in_w * c;
    const int lin = w16_lin(p, bias, mult, shift, k);
    w16_geom geom;
    w16_geom_make(p, &geom);
    for (int32_t oc0 = 0; oc0 < oc_n; oc0 += chunk) {
        const int32_t n = oc_n - oc0 < chunk ? oc_n - oc0 : chunk, n2 = n & ~1;
        int pos = rq_mode(p, mult, oc0, n2);
        const uint32_t fast = w16_table(p, lin, bias, mult, shift, oc0, n2, k, &pos, tbl);
        const int all = fast == (n2 >= 64 ? ~0u : (1u << (n2 >> 1)) - 1u) && n2 > 0;
        const int8_t *wc = w + oc0 * k * 2;
        w16_ctx cx = {tbl, 0, oc_n, hi4, lo4, xb, 10 * k, pos, 0, 0, 0, 0, 0, zp2, 1};
        int32_t oy = 0, ox = 0;
        for (int32_t pix = 0; pix < n_pix; pix += 2) {
            int32_t m = 0;   /* a run of m pairs straight from the input: dense 1x1, or the */
            if (all && n2 == n && !buf && geom.dense)   /* windows inside the image along */
                m = (n_pix - pix) >> 1;                 /* one output row */
            else if (all && n2 == n && buf && oy >= geom.in.oy_a && oy < geom.in.oy_b &&
                     ox >= geom.in.ox_a)
                m = (geom.in.ox_b - ox) >> 1;
            if (m > 0) {
                const int32_t step = buf ? p->stride_w * c : c;
                const int8_t *src = buf ? in + ((oy * p->stride_h - p->pad_top) * p->in_w +
                                                ox * p->stride_w - p->pad_left) * c
                                        : in + pix * c;
                cx.o = out + pix * oc_n + oc0;   /* m pairs widened by w16_run: `rows` */
                cx.o_step = oc_n;                   /* runs of 4 * groups bytes */
                cx.src = src;
                cx.step = step;
                cx.row_step = buf ? row : 0;
                cx.rows = buf ? p->k_h : 1;
                cx.groups = (buf ? run4 : k) >> 2;
                cx.m = m;
                w16_run(&cx, wc);
                pix += 2 * m - 2;
                if ((ox += 2 * m) >= p->out_w) ox -= p->out_w, oy++;   /* buf: ox = out_w */
                continue;
            }
            int32_t p0 = pix;
            if (pix + 1 == n_pix && n_pix >= 2) {   /* odd end: the last two pixels again */
                p0 = n_pix - 2;
                oy = p0 / p->out_w;
                ox = p0 - oy * p->out_w;
            }
            const int two = p0 + 1 < n_pix;
            int8_t *o = out + p0 * oc_n + oc0;
            w16_gather(p, &geom, in, oy, ox, two, k, buf, xb);
            if ((ox += 2) >= p->out_w) ox -= p->out_w, oy++;
            if (ox >= p->out_w) ox -= p->out_w, oy++;   /* out_w 1 */
            if (all) {   /* the usual case: every pair in one w16_run */
                cx.o = o;
                cx.o_step = two ? oc_n : 0;
                cx.rows = 0;
                cx.m = 1;
                w16_run(&cx, wc);
            }
            for (int32_t j = all ? n2 : 0; j < n; ) {
                int32_t j1 = j;
                while (j1 < n2 && (fast >> (j1 >> 1) & 1u)) j1 += 2;
                if (j1 > j) {   /* pairs j .. j1 - 1: one w16_run */
                    w16_ctx kc = {tbl + W16_TBL * j, o + j, two ? oc_n : 0, hi4, lo4, xb, 10 * k,
                                  pos, 0, 0, 0, 0, 0, 0, 1};
                    w16_run(&kc, wc + j * k * 2);
                    j = j1;
                    continue;
                }
                const int32_t oc = oc0 + j;   /* weights scaled by 2^sk (w16_exp) */
                const int32_t s0 = w16_exp(p, lin, mult[oc], shift[oc], bias[oc], k);
                const int32_t s1 = j + 1 < n ? w16_exp(p, lin, mult[oc + 1], shift[oc + 1],
                                                       bias[oc + 1], k) : 0;
                int32_t a[4] = {0, 0, 0, 0};
                w16_acc(xb, wc + j * k * 2, k, a);
                a[0] = bias[oc] + (a[0] >> s0);
                a[2] = bias[oc] + (a[2] >> s0);
                if (j + 1 < n) {
                    a[1] = bias[oc + 1] + (a[1] >> s1);
                    a[3] = bias[oc + 1] + (a[3] >> s1);
                }
                o[j] = REQ(a[0], oc);
                if (two) o[j + oc_n] = REQ(a[2], oc);
                if (j + 1 < n) {
                    o[j + 1] = REQ(a[1], oc + 1);
                    if (two) o[j + 1 + oc_n] = REQ(a[3], oc + 1);
                }
                j += 2;
            }
        }
    }
}

enum { W16_PW_CHUNK = 64, W16_PW_SCRATCH = 256 + W16_TBL * W16_PW_CHUNK, W16_SMALL_CHUNK = 16 };

/* Pointwise, C % 4 == 0, C <= W16_K_MAX: 3 KB of scratch, the widened pair (xb, C words)
 * then the table (W16_TBL words a channel) of chunks of at most 64 output channels (so each
 * pixel pair is widened once per chunk): 64 up to C = 256, 48 at C = 384. */
static void conv_pointwise_w16(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                               const int32_t *bias, const int32_t *mult, const int32_t *shift,
                               int8_t *out)
{
    int32_t scratch[W16_PW_SCRATCH];
    const int32_t k = p->in_c, fit = ((W16_PW_SCRATCH - k) / W16_TBL) & ~1;
    conv_w16(p, in, w, bias, mult, shift, out, k, fit < W16_PW_CHUNK ? fit : W16_PW_CHUNK,
             scratch + k, scratch, 0);
}

/* groups 1 with a small window (K = KH * run4 <= SMALL_K_MAX, run4 = KW * C rounded up to
 * 4; OC <= SMALL_OC_MAX: the first conv), w16 weights over K: each window widened (1 KB)
 * straight from its input rows inside the image, else copied first (im2col, 256 B); then
 * as 2 pointwise pixels; tbl 512 B. */
static void conv_small(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                       const int32_t *bias, const int32_t *mult, const int32_t *shift,
                       int8_t *out)
{
    const int32_t k = p->k_h * ((p->k_w * p->in_c + 3) & ~3);
    int8_t buf[SMALL_K_MAX] __attribute__((aligned(4)));
    int32_t xb[SMALL_K_MAX], tbl[W16_SMALL_CHUNK * W16_TBL];
    memset(buf, 0, sizeof buf);   /* row padding: any value (weight 0), kept defined */
    conv_w16(p, in, w, bias, mult, shift, out, k, W16_SMALL_CHUNK, tbl, xb, buf);
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

static inline int32_t pkhbt(int32_t lo, int32_t hi)   /* (lo.bottom, hi.bottom) */
{
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}

static inline int32_t pkhtb(int32_t hi, int32_t lo)   /* (lo.top, hi.top) */
{
    return (int32_t)(((uint32_t)hi & 0xFFFF0000u) | ((uint32_t)lo >> 16));
}

/* A kernel row's 6 weight words in dw3_run's slot order, from the int8 words of taps 0, 1, 2
 * (4 channels each). */
static inline void dw3_wrow(int32_t v0, int32_t v1, int32_t v2, int32_t *q)
{
    const int32_t a0 = __sxtb16(v0), b0 = emb_sxtb16_odd(v0);
    const int32_t a1 = __sxtb16(v1), b1 = emb_sxtb16_odd(v1);
    q[0] = __sxtb16(v2);
    q[1] = emb_sxtb16_odd(v2);
    q[2] = pkhbt(a0, a1);
    q[3] = pkhtb(a1, a0);
    q[4] = pkhbt(b0, b1);
    q[5] = pkhtb(b1, b0);
}

/* One column segment of dw3_block: output columns ox0 .. ox0 + n - 1, their input columns
 * ix0 .. ix0 + ncol - 1 of which lo .. hi - 1 are inside the image. Stride 1 or 2 with at
 * most the first and the last column in the padding (row >= 0: dw3_row's flags): rows come
 * straight from the input; else ab holds the columns widened (2 words each: x - zp, 0 in
 * the padding, which is written once per segment), then dw3_slots. */
enum { DW3_COLS = 2 * (DW3_SLOTS - 1) + 3 };
typedef struct {
    int32_t ix0, n, lo, hi, row;
    int32_t ab[2 * DW3_COLS];
} dw3_seg;

static const int32_t dw3_zero[2 * DW3_COLS];   /* a row in the padding */

static void dw3_seg_make(const emb_conv_params *p, int32_t ox0, int32_t n, dw3_seg *g)
{
    const int32_t ncol = (n - 1) * p->stride_w + 3;
    g->ix0 = ox0 * p->stride_w - p->pad_left;
    g->n = n;
    g->lo = -g->ix0 > 0 ? -g->ix0 : 0;
    g->hi = p->in_w - g->ix0 < ncol ? p->in_w - g->ix0 : ncol;
    if (g->hi < g->lo) g->hi = g->lo;
    g->row = p->stride_w <= 2 && g->lo <= 1 && g->hi >= ncol - 1 ? g->lo | (g->hi < ncol) << 1
                                                                 : -1;
    if (g->row < 0)   /* widened columns (dw3_fill): those in the padding are 0 */
        for (int32_t j = 0; j < ncol; j++)
            if (j < g->lo || j >= g->hi) g->ab[2 * j] = g->ab[2 * j + 1] = 0;
}

/* dw3_run's buffer row for an input row inside the image that dw3_block does not read
 * straight from the input (dw3_seg's row < 0; ab's columns in the padding stay 0),
 * channels ch..ch+3 (src: its column lo): slot j holds the taps of output column ox0 + j. */
static void dw3_fill(const emb_conv_params *p, const int8_t *src, int32_t zp2, dw3_seg *g,
                     int32_t *slot)
{
    const int32_t c = p->in_c, s8 = 8 * p->stride_w;
    int32_t *ab = g->ab + 2 * g->lo, *end = g->ab + 2 * g->hi;
    for (; ab != end; ab += 2, src += c) {
        const int32_t v = emb_rd4(src);
        ab[0] = __sxtab16(zp2, v);
        ab[1] = emb_sxtab16_odd(zp2, v);
    }
    dw3_slots(g->ab, slot, g->n, s8);
}

/* dw3_run's 30 weight words of channels ch..ch+3 with taps scaled by 2^t (the runtime forms:
 * rq_fold, rq_fold_left): 6 in slot order per kernel row (packing.dw3_table's order), kernel
 * rows k1 k2 k0 k1 k2 (dw3_rows). */
static void dw3_wtable(const emb_conv_params *p, const int8_t *w, int32_t ch, const int32_t t[4],
                       int32_t *wk)
{
    const int32_t c = p->in_c;
    const int shifted = t[0] | t[1] | t[2] | t[3];
    for (int32_t kh = 0; kh < 3; kh++) {   /* kernel row kh's 6 words, taps scaled by 2^t */
        const int8_t *x = w + kh * 3 * c + ch;
        int32_t *q = wk + 6 * (kh == 0 ? 2 : kh - 1);
        if (!shifted) {   /* SXTB16 splits a tap's word into channels (0, 2) and (1, 3) */
            dw3_wrow(emb_rd4(x), emb_rd4(x + c), emb_rd4(x + 2 * c), q);
            continue;
        }
#define W(kw, j) (x[(kw) * c + (j)] * (1 << t[j]))   /* tap kw of channel ch + j */
        q[0] = pkhbt(W(2, 0), W(2, 2));
        q[1] = pkhbt(W(2, 1), W(2, 3));
        q[2] = pkhbt(W(0, 0), W(1, 0));
        q[3] = pkhbt(W(0, 2), W(1, 2));
        q[4] = pkhbt(W(0, 1), W(1, 1));
        q[5] = pkhbt(W(0, 3), W(1, 3));
#undef W
    }
    memcpy(wk + 18, wk, 12 * sizeof(int32_t));   /* k1 k2 k0 k1 k2 */
}

/* Depthwise 3x3 (no dilation), channels ch..ch+3 with constants rq (rq_fold's, or the S
 * form's {m, R}; biases in rq[-4..-1]) and weight words wk (dw3_wtable's 30): segments of at
 * most DW3_SLOTS output columns; the input rows go round a ring of 3 buffer rows in order
 * (each filled once per segment), so the weight order per output row is one of 3 rotations
 * of the kernel rows (wk + 6 (2 - b), b the buffer row of the window's first row). Segments
 * whose rows come straight from the input (or the padding) go through dw3_rows. Scratch:
 * 1728 (ring) + 412 (seg) + 108 (dw3_rows). */
static void dw3_block(const emb_conv_params *p, const int8_t *in, int32_t ch,
                      const int32_t *rq, const int32_t *wk, int pos, int8_t *out)
{
    const int32_t c = p->in_c;
    int32_t ring[3][DW3_ROW / 4];
    dw3_ctx k = {ring[0], 0, rq, 0, c, 0, (uint32_t)(p->act_max - p->act_min) * 0x01010101u,
                 ((uint32_t)p->act_min & 0xFFu) * 0x01010101u, pos};
    const int32_t n_seg = (p->out_w + DW3_SLOTS - 1) / DW3_SLOTS;
    const int32_t seg = (p->out_w + n_seg - 1) / n_seg;   /* balanced segments */
    const int32_t zp2 = emb_neg_zp2(p->in_zp), row = p->in_w * c, o_row = p->out_w * c;
    const int32_t in_h = p->in_h, s8 = 8 * p->stride_w;
    void (*const run)(const dw3_ctx *) = dw3_run_fn(pos);
    dw3_seg g;
    for (int32_t ox0 = 0; ox0 < p->out_w; ox0 += seg) {
        dw3_seg_make(p, ox0, p->out_w - ox0 < seg ? p->out_w - ox0 : seg, &g);
        const int32_t o_len = g.n * c, n = g.n, flags = g.row;
        /* rows inside the image straight from the input (row >= 0: dw3_row's flags), or 0 */
        void (*const fill)(const int8_t *, int32_t, int32_t *, int32_t, int32_t, int32_t) =
            g.row < 0 ? 0 : p->stride_w == 1 ? dw3_row_s1 : dw3_row_s2;
        /* the next input row to fill, its buffer row, its column lo (an offset from in: the
         * row may lie in the padding) */
        int32_t next = -p->pad_top, b = 0, src = next * row + (g.ix0 + g.lo) * c + ch;
        int32_t iy0 = -p->pad_top;
        k.o = out + ox0 * c + ch;
        if (fill) {
            dw3_rows_ctx r = {k, in, src, next, in_h, row, c, n, zp2, flags, wk, o_row, o_len,
                              p->out_h, p->stride_h, fill, run, dw3_zero, s8};
            dw3_rows(&r);
            continue;
        }
        for (int32_t oy = 0; oy < p->out_h; oy++, iy0 += p->stride_h, k.o += o_row) {
            for (; next < iy0; next++, src += row) b = b == 2 ? 0 : b + 1;   /* stride > 3 */
            for (; next < iy0 + 3; next++, src += row) {
                if ((uint32_t)next >= (uint32_t)in_h) dw3_slots(dw3_zero, ring[b], n, s8);
                else if (fill) fill(in + src, c, ring[b], n, zp2, flags);
                else dw3_fill(p, in + src, zp2, &g, ring[b]);
                b = b == 2 ? 0 : b + 1;
            }
            k.wt = wk + 6 * (2 - b);   /* b: the buffer row of iy0 (next == iy0 + 3) */
            k.o_end = k.o + o_len;
            run(&k);
        }
    }
}

/* {m, klo, khi + (out_zp - base) << (e - 1), e - 1} of one channel for w16_run / dw3_run
 * (USAT then gives the output minus act_min for base act_min; SSAT the output for base 0 when
 * the clamp is the whole int8 range); 0 if it needs emb_requant. The lane's high
 * word, |hi32(a * m)| <= 2^30 plus khi plus the folded zero point, must stay an int32:
 * every e for ReLU-style clamps (act_min == out_zp), e <= 22 at worst. */
static inline __attribute__((always_inline)) int rq_fold(const emb_conv_params *p, int32_t m,
                                                         int32_t s, int32_t base, int32_t sk,
                                                         int32_t q[4])
{
    if (!emb_rq_fast(m, s)) return 0;
    emb_rq r = emb_rq_make(m, s);
    /* Accumulators scaled by 2^sk: K and e1 too. The sign term (2^31, unscaled) then only
     * differs for a < 0, which gives an output <= out_zp either way: sk > 0 is a ReLU-style
     * channel (emb_rq_pos_ok), whose clamp replaces it. */
    if (sk > 0) {
        const uint64_t kk = ((uint64_t)(uint32_t)r.khi << 32 | (uint32_t)r.klo) << sk;
        r.klo = (int32_t)(uint32_t)kk;
        r.khi = (int32_t)(uint32_t)(kk >> 32);
        r.e1 += sk;
    }
    const int32_t f = p->out_zp - base;
    const uint32_t af = (uint32_t)(f < 0 ? -f : f);
    /* 2^30 + 1 + khi + |f| * 2^e1 < 2^31, in 32 bits: |f| <= (2^30 - 2 - khi) >> e1 */
    if (af > ((1u << 30) - 2u - (uint32_t)r.khi) >> r.e1) return 0;
    q[0] = r.m;
    q[1] = r.klo;
    q[2] = (int32_t)((uint32_t)r.khi + (uint32_t)f * (1u << r.e1));
    q[3] = r.e1;
    return 1;
}

/* A left shift (s >= 0, m != 0) for dw3_run's lane, which only has the right-shift form
 * (emb_rq_apply): with the channel's weights and bias scaled by 2^t, t = s + 1 (int16 taps:
 * t <= 8), and 2^30 added to the bias, its accumulator a' = a * 2^t + 2^30 is never negative
 * as long as |a| * 2^t < 2^30 (checked from the bias and the 9 taps' bound 9 * 255 * 128),
 * so the lane's sign term vanishes and K = 2^31 - 2^30 * m + (out_zp - act_min) * 2^32,
 * e1 = 0 gives floor((a * 2^(s+1) * m + 2^31) / 2^32) = SRDHM(a << s, m) = MBQM(a, m, s)
 * exactly (a << s does not wrap). q[-4..-1] as rq_fold, *b the scaled bias; 0 if out of
 * range. */
static int rq_fold_left(const emb_conv_params *p, int32_t m, int32_t s, int32_t bias,
                        int32_t q[4], int32_t *b, int32_t *t)
{
    if (m == 0 || m == INT32_MIN || s < 0 || s > 7) return 0;
    const int64_t bound = ((bias < 0 ? -(int64_t)bias : bias) + 9 * 255 * 128) * (1LL << (s + 1));
    if (bound >= (1LL << 30)) return 0;
    const int64_t k = (1LL << 31) - (int64_t)m * (1LL << 30) +
                      ((int64_t)p->out_zp - p->act_min) * (1LL << 32);
    q[0] = m;
    q[1] = (int32_t)(uint32_t)(uint64_t)k;
    q[2] = (int32_t)(k >> 32);
    q[3] = 0;
    *b = (int32_t)((int64_t)bias * (1LL << (s + 1)) + (1LL << 30));
    *t = s + 1;
    return 1;
}

/* Depthwise, weights (KH, KW, C): blocks of 4 channels; 3x3 (dil_w 1) with fast
 * requantization through dw3_block: the S form with the block's constants packed offline
 * after the taps (packing.dw3_table: DW3_PACK words a block, pos 0 if not in the S form),
 * else rq_fold or rq_fold_left for every channel; anything else per pixel (dw4_taps,
 * emb_requant). */
enum { DW3_PACK = 31 };   /* packing.DW3_BLOCK */
static void conv_depthwise(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           int8_t *out)
{
    const int32_t c = p->in_c, zp = p->in_zp, zp2 = emb_neg_zp2(zp);
    const int32_t x_row = p->dil_h * p->in_w * c, x_col = p->dil_w * c;
    const int32_t w_row = p->k_w * c;
    const int k3 = p->k_h == 3 && p->k_w == 3 && p->dil_w == 1 && p->dil_h == 1;
    int32_t ch = 0;
    for (; ch + 4 <= c; ch += 4) {
        int32_t rq[20], t[4] = {0, 0, 0, 0}, wk[30], fast = k3;
        const int32_t *pk = k3 ? (const int32_t *)(const void *)(w + ((9 * c + 3) & ~3)) +
                                     DW3_PACK * (ch >> 2) : 0;
        if (k3 && pk[0]) {
            typedef struct { int32_t v[6]; } krow;   /* copied inline (LDM, STM) */
            const krow *src = (const krow *)(const void *)(pk + 13);
            krow *dst = (krow *)(void *)wk;
            dst[0] = dst[3] = src[1];   /* k1 k2 k0 k1 k2 */
            dst[1] = dst[4] = src[2];
            dst[2] = src[0];
            dw3_block(p, in, ch, pk + 5, wk, pk[0], out);
            continue;
        }
        const int mode = k3 ? rq_mode(p, mult, ch, 4) : 0;
        for (int32_t j = 0; j < 4 && fast; j++) {
            rq[j] = bias[ch + j];
            fast = rq_fold(p, mult[ch + j], shift[ch + j], p->act_min, 0, rq + 4 + 4 * j) ||
                   rq_fold_left(p, mult[ch + j], shift[ch + j], bias[ch + j], rq + 4 + 4 * j,
                                rq + j, t + j);
        }
        if (fast) {
            dw3_wtable(p, w, ch, t, wk);
            dw3_block(p, in, ch, rq + 4, wk, mode, out);
            continue;
        }
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            int32_t kh0, kh1;
            emb_window(oy, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h, &kh0, &kh1);
            const int32_t iy = oy * p->stride_h - p->pad_top + kh0 * p->dil_h;
            int8_t *o = out + oy * p->out_w * c + ch;
            for (int32_t ox = 0; ox < p->out_w; ox++, o += c) {
                int32_t a[4] = {bias[ch], bias[ch + 1], bias[ch + 2], bias[ch + 3]};
                int32_t kw0, kw1;
                emb_window(ox, p->stride_w, p->pad_left, p->dil_w, p->k_w, p->in_w, &kw0, &kw1);
                const int32_t ix = ox * p->stride_w - p->pad_left + kw0 * p->dil_w;
                const int32_t nh = kh1 - kh0, nw = kw1 - kw0;
                if (nh > 0 && nw > 0)
                    dw4_taps(in + (iy * p->in_w + ix) * c + ch, w + (kh0 * p->k_w + kw0) * c + ch,
                             nh, nw, x_row, x_col, w_row, c, zp2, a);
                for (int j = 0; j < 4; j++) o[j] = REQ(a[j], ch + j);
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
    else if (p->groups == 1 && p->k_h == 1 && p->k_w == 1 && (p->in_c & 3) == 0 &&
             p->in_c <= W16_K_MAX && !p->compact)
        conv_pointwise_w16(p, in, weight, bias, mult, shift, out);   /* w16 weights */
    else if (p->groups == 1 && p->k_h == 1 && p->k_w == 1)
        conv_pointwise(p, in, weight, bias, mult, shift, out);
    else if (p->groups == 1 && p->out_c <= SMALL_OC_MAX &&
             p->k_h * ((p->k_w * p->in_c + 3) & ~3) <= SMALL_K_MAX)
        conv_small(p, in, weight, bias, mult, shift, out);
    else if (p->groups == 1 && p->dil_w == 1)
        conv_rows(p, in, weight, bias, mult, shift, out);
    else
        emb_conv2d_generic_s8(p, in, weight, bias, mult, shift, out);
}
