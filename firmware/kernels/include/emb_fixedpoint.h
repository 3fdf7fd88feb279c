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

/* acc -> int8 output of a conv / FC (OPS.md conv2d). */
static inline int8_t emb_requant(int32_t acc, int32_t m, int32_t shift, int32_t out_zp,
                                 int32_t act_min, int32_t act_max)
{
    return (int8_t)emb_clamp(emb_mbqm_inl(acc, m, shift) + out_zp, act_min, act_max);
}
#endif
