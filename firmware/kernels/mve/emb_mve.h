/* Cortex-M55 Helium helpers (private to mve/): int8 dot products of 4 output channels with
 * VMLADAVA, and a vector requantization that is bit-exact with emb_mbqm_inl:
 * SRDHM == VQRDMULH (both are floor((2ab + 2^31) / 2^32), saturating INT32_MIN^2), and
 * RoundingDivideByPOT == VRSHL after adding -1 to negative values when shifting (gemmlowp's
 * NEON fixup). */
#ifndef EMB_MVE_H
#define EMB_MVE_H
#include <stdint.h>
#include <arm_mve.h>

#if !defined(__ARM_FEATURE_MVE)
#error "mve kernels need __ARM_FEATURE_MVE (-mcpu=cortex-m55)"
#endif

typedef struct {
    int32x4_t mult, left, right;     /* right <= 0: VRSHL shift amount */
} emb_mve_rq;

static inline emb_mve_rq emb_mve_rq_vec(int32x4_t mult, int32x4_t shift)
{
    emb_mve_rq r = {mult, vmaxq_s32(shift, vdupq_n_s32(0)), vminq_s32(shift, vdupq_n_s32(0))};
    return r;
}

static inline emb_mve_rq emb_mve_rq_load(const int32_t *mult, const int32_t *shift,
                                         mve_pred16_t p)
{
    const int32x4_t s = vldrwq_z_s32(shift, p);
    emb_mve_rq r = {vldrwq_z_s32(mult, p), vmaxq_s32(s, vdupq_n_s32(0)),
                    vminq_s32(s, vdupq_n_s32(0))};
    return r;
}

/* MBQM of 4 lanes (emb_mbqm_inl). */
static inline int32x4_t emb_mve_mbqm(int32x4_t acc, emb_mve_rq r)
{
    int32x4_t x = vqrdmulhq_s32(vshlq_s32(acc, r.left), r.mult);
    x = vqaddq_s32(x, vshrq_n_s32(vandq_s32(x, r.right), 31));
    return vrshlq_s32(x, r.right);
}

static inline int32x4_t emb_mve_requant(int32x4_t acc, emb_mve_rq r, int32_t out_zp,
                                        int32_t act_min, int32_t act_max)
{
    const int32x4_t x = vaddq_n_s32(emb_mve_mbqm(acc, r), out_zp);
    return vminq_s32(vmaxq_s32(x, vdupq_n_s32(act_min)), vdupq_n_s32(act_max));
}

/* emb_mve_requant when act_min >= out_zp (ReLU-style): without the rounding fix-up of
 * negative values, exact for every output the clamp keeps (a negative VQRDMULH result
 * stays <= 0 through VRSHL with or without it, so its output is <= out_zp and becomes
 * act_min either way; a non-negative one gets no fix-up). */
static inline int32x4_t emb_mve_requant_pos(int32x4_t acc, emb_mve_rq r, int32_t out_zp,
                                            int32_t act_min, int32_t act_max)
{
    const int32x4_t m = vqrdmulhq_s32(vshlq_s32(acc, r.left), r.mult);
    const int32x4_t x = vaddq_n_s32(vrshlq_s32(m, r.right), out_zp);
    return vminq_s32(vmaxq_s32(x, vdupq_n_s32(act_min)), vdupq_n_s32(act_max));
}

/* acc[j] += x . w_j and wsum[j] += sum(w_j) over n int8 values, w_j = w + j * w_oc, for the
 * first `m` (1..4) of 4 output channels; tail-predicated. */
static inline void emb_mve_dot4(const int8_t *x, const int8_t *w, int32_t w_oc, int32_t n,
                                int32_t m, int32_t acc[4], int32_t wsum[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t s0 = wsum[0], s1 = wsum[1], s2 = wsum[2], s3 = wsum[3];
    const int8_t *w1 = w + (m > 1 ? w_oc : 0), *w2 = w + (m > 2 ? 2 * w_oc : 0);
    const int8_t *w3 = w + (m > 3 ? 3 * w_oc : 0);
    for (int32_t i = 0; i < n; i += 16) {
        const mve_pred16_t p = vctp8q((uint32_t)(n - i));
        const int8x16_t xv = vldrbq_z_s8(x + i, p);
        const int8x16_t v0 = vldrbq_z_s8(w + i, p), v1 = vldrbq_z_s8(w1 + i, p);
        const int8x16_t v2 = vldrbq_z_s8(w2 + i, p), v3 = vldrbq_z_s8(w3 + i, p);
        a0 = vmladavaq_s8(a0, xv, v0);
        s0 = vaddvaq_s8(s0, v0);
        a1 = vmladavaq_s8(a1, xv, v1);
        s1 = vaddvaq_s8(s1, v1);
        a2 = vmladavaq_s8(a2, xv, v2);
        s2 = vaddvaq_s8(s2, v2);
        a3 = vmladavaq_s8(a3, xv, v3);
        s3 = vaddvaq_s8(s3, v3);
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
    wsum[0] = s0; wsum[1] = s1; wsum[2] = s2; wsum[3] = s3;
}

/* acc[j] += x0 . w_j, acc[4 + j] += x1 . w_j (j = 0..3) over n16 chunks of 16 channels,
 * weights of 4 output channels interleaved per chunk (packing.py): 14 instructions per 128
 * MACs. Hand-written in mve/emb_conv2d.c: VMLADAVA needs even accumulator registers, eight
 * of them plus three pointers. */
void emb_mve_pw_2x4(const int8_t *x0, const int8_t *x1, const int8_t *w, int32_t n16,
                    int32_t acc[8]);

/* The last n = C % 16 channels after emb_mve_pw_2x4: x loads predicated; the block's
 * weights for them are 4 rows of n bytes (packing.py). */
static inline void emb_mve_pw_tail(const int8_t *x0, const int8_t *x1, const int8_t *w,
                                   int32_t n, int32_t acc[8])
{
    const mve_pred16_t p = vctp8q((uint32_t)n);
    const int8x16_t u = vldrbq_z_s8(x0, p), v = vldrbq_z_s8(x1, p);
    for (int j = 0; j < 4; j++) {
        const int8x16_t wj = vldrbq_z_s8(w + n * j, p);
        acc[j] = vmladavaq_s8(acc[j], u, wj);
        acc[4 + j] = vmladavaq_s8(acc[4 + j], v, wj);
    }
}

/* sum(w_j) of the 4 output channels of a packed block of k input channels (4 scalar
 * sums: kept in registers, 8 instructions per 16 input channels). */
static inline void emb_mve_block_wsum(const int8_t *wb, int32_t k, int32_t wsum[4])
{
    const int32_t t = k & 15, full = k - t;
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (const int8_t *q = wb, *e = wb + 4 * full; q < e; q += 64) {
        s0 = vaddvaq_s8(s0, vldrbq_s8(q));
        s1 = vaddvaq_s8(s1, vldrbq_s8(q + 16));
        s2 = vaddvaq_s8(s2, vldrbq_s8(q + 32));
        s3 = vaddvaq_s8(s3, vldrbq_s8(q + 48));
    }
    if (t) {
        const mve_pred16_t p = vctp8q((uint32_t)t);
        const int8_t *q = wb + 4 * full;
        s0 = vaddvaq_s8(s0, vldrbq_z_s8(q, p));
        s1 = vaddvaq_s8(s1, vldrbq_z_s8(q + t, p));
        s2 = vaddvaq_s8(s2, vldrbq_z_s8(q + 2 * t, p));
        s3 = vaddvaq_s8(s3, vldrbq_z_s8(q + 3 * t, p));
    }
    wsum[0] = s0;
    wsum[1] = s1;
    wsum[2] = s2;
    wsum[3] = s3;
}

static inline int32x4_t emb_mve_vec4(const int32_t v[4])
{
    return vldrwq_s32(v);
}
#endif
