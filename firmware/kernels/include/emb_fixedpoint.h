/* Inline fixed-point helpers shared by every kernel variant (OPS.md, bit for bit).
 * emb_mbqm() in emb_kernels.h is the exported, out-of-line form of emb_mbqm_inl(). */
#ifndef EMB_FIXEDPOINT_H
#define EMB_FIXEDPOINT_H
#include <stdint.h>

/* SaturatingRoundingDoublingHighMul. OPS.md's form (nudge, then truncating division by
 * 2^31) equals floor((a*b + 2^30) / 2^31) for both signs, which is one SMULL, a 64-bit add
 * and a shift (the same identity makes it equal to Helium's VQRDMULH). */
static inline int32_t emb_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    const int64_t ab = (int64_t)a * (int64_t)b + ((int64_t)1 << 30);
    return (int32_t)(ab >> 31);   /* arithmetic shift: floor */
}

/* RoundingDivideByPOT, 0 <= e <= 31 (>> of a negative value is arithmetic on gcc/clang). */
static inline int32_t emb_rdivpot(int32_t x, int32_t e)
{
    int32_t mask = (int32_t)((1u << e) - 1u);
    int32_t rem = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > threshold ? 1 : 0);
}

/* MultiplyByQuantizedMultiplier; shift > 0 is a left shift, x << left wraps as int32. */
static inline int32_t emb_mbqm_inl(int32_t x, int32_t m, int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    return emb_rdivpot(emb_srdhm((int32_t)((uint32_t)x << left), m), right);
}

static inline int32_t emb_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Fast MBQM for right shifts (shift < 0, multiplier != INT32_MIN: every conv / FC layer in
 * practice). SRDHM then RoundingDivideByPOT(e) fold into one floor division:
 *   MBQM(a, m, -e) == floor((a*m + 2^30 + 2^(30+e) - [a < 0] * 2^31) / 2^(31+e))
 *                  == hi32(a*m + K + (a >> 31) * 2^31) >> (e - 1),   K = 2^30 + 2^(30+e)
 * (SRDHM < 0 exactly when a < 0 or the result is 0 anyway, and floor(floor(y/p)/q) ==
 * floor(y/(pq))). On the target: ASR, ADDS, ADC, SMLAL, ASR.
 * A dead channel (multiplier 0: all-zero weights, or a real multiplier below 2^-32, any
 * shift) gives MBQM == 0 for every a, which the same form gives with shift -1: it stays on
 * the fast path. Left shifts (shift >= 0, m != 0) do not fit this form. */
typedef struct {
    int32_t m, klo, khi, e1;       /* multiplier, K low / high word, e - 1 */
} emb_rq;

static inline int emb_rq_fast(int32_t m, int32_t shift)
{
    return m == 0 || (shift < 0 && shift >= -31 && m != INT32_MIN);
}

/* (m, shift) with emb_rq_fast() true -> the constants of the form above. */
static inline emb_rq emb_rq_make(int32_t m, int32_t shift)
{
    const int32_t e = m == 0 ? 1 : -shift;      /* 1..31 */
    emb_rq r = {m, e == 1 ? (int32_t)0xC0000000u : 0x40000000, e == 1 ? 0 : 1 << (e - 2),
                e - 1};
    return r;
}

static inline int32_t emb_rq_apply(int32_t a, int32_t m, int32_t klo, int32_t khi, int32_t e1)
{
#if defined(__ARM_FEATURE_DSP) && defined(__thumb2__) && !defined(EMB_ACLE_EMULATED)
    int32_t lo, hi, s;
    __asm__("asr %[s], %[a], #31\n\t"
            "adds %[lo], %[klo], %[s], lsl #31\n\t"
            "adc %[hi], %[khi], %[s]\n\t"
            "smlal %[lo], %[hi], %[a], %[m]\n\t"
            "asr %[hi], %[hi], %[e1]"
            : [lo] "=&r"(lo), [hi] "=&r"(hi), [s] "=&r"(s)
            : [a] "r"(a), [m] "r"(m), [klo] "r"(klo), [khi] "r"(khi), [e1] "r"(e1)
            : "cc");
    return hi;
#else
    const int64_t k = (int64_t)khi * 4294967296LL + (int64_t)(uint32_t)klo;
    const int64_t p = k + (int64_t)(a >> 31) * 2147483648LL + (int64_t)a * m;
    return (int32_t)(p >> 32) >> e1;
#endif
}

/* emb_rq_apply without the sign term (on the target: SMLAL, ASR), exact for every output
 * that survives the clamp when emb_rq_pos_ok: for a < 0 and m >= 0, e >= 1, a*m + K <=
 * 2^30 - m + 2^(30+e) < 2^(31+e), so both forms give MBQM <= 0, an output <= out_zp, which
 * the clamp at act_min >= out_zp (ReLU-style) replaces anyway; for a >= 0 they agree. */
static inline int emb_rq_pos_ok(int32_t m, int32_t out_zp, int32_t act_min)
{
    return m >= 0 && act_min >= out_zp;
}

static inline int32_t emb_rq_apply_pos(int32_t a, int32_t m, int32_t klo, int32_t khi,
                                       int32_t e1)
{
    const int64_t k = (int64_t)khi * 4294967296LL + (int64_t)(uint32_t)klo;
    return (int32_t)((k + (int64_t)a * m) >> 32) >> e1;
}

/* acc -> int8 output of a conv / FC (OPS.md conv2d). */
static inline int8_t emb_requant(int32_t acc, int32_t m, int32_t shift, int32_t out_zp,
                                 int32_t act_min, int32_t act_max)
{
    return (int8_t)emb_clamp(emb_mbqm_inl(acc, m, shift) + out_zp, act_min, act_max);
}
#endif
