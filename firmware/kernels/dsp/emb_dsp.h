/* Cortex-M4/M7 DSP-extension helpers (private to dsp/): word loads and SXTB16 byte splits.
 * A word of 4 int8 values splits into (b0, b2) and (b1, b3) int16 pairs; activations and
 * weights are split the same way, so SMLAD pairs them up without any reordering. */
#ifndef EMB_DSP_H
#define EMB_DSP_H
#include <stdint.h>
#include <string.h>
#include <arm_acle.h>

#if !defined(__ARM_FEATURE_DSP) && !defined(EMB_ACLE_EMULATED)
#error "dsp kernels need __ARM_FEATURE_DSP (-mcpu=cortex-m4 / cortex-m7)"
#endif

/* 4 int8 values as one word; memcpy compiles to one LDR (unaligned is fine on M4/M7). */
static inline int32_t emb_rd4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline int32_t emb_ror8(int32_t v)
{
    return (int32_t)(((uint32_t)v >> 8) | ((uint32_t)v << 24));
}

/* SXTB16 / SXTAB16 of the odd bytes (b1, b3): the ROR #8 operand folded in (gcc 12 does
 * not fold a separate rotate into the intrinsic). */
static inline int32_t emb_sxtb16_odd(int32_t v)
{
#if defined(EMB_ACLE_EMULATED)
    return __sxtb16(emb_ror8(v));
#else
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
#endif
}

static inline int32_t emb_sxtab16_odd(int32_t a, int32_t v)
{
#if defined(EMB_ACLE_EMULATED)
    return __sxtab16(a, emb_ror8(v));
#else
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
#endif
}

/* (-zp, -zp) as an int16 pair: SXTAB16 with it gives x - zp in each lane. */
static inline int32_t emb_neg_zp2(int32_t zp)
{
    return (int32_t)(((uint32_t)(-zp) << 16) | ((uint32_t)(-zp) & 0xFFFFu));
}

/* acc0 += (x - zp) . w0, acc1 += (x - zp) . w1 over n values. */
static inline void emb_dot_1x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n,
                               int32_t zp, int32_t *acc0, int32_t *acc1)
{
    const int32_t zp2 = emb_neg_zp2(zp);
    int32_t a0 = *acc0, a1 = *acc1, i = 0;
    for (; i + 4 <= n; i += 4) {
        const int32_t xv = emb_rd4(x + i);
        const int32_t xa = __sxtab16(zp2, xv), xb = emb_sxtab16_odd(zp2, xv);
        const int32_t v0 = emb_rd4(w0 + i), v1 = emb_rd4(w1 + i);
        a0 = __smlad(xa, __sxtb16(v0), a0);
        a0 = __smlad(xb, emb_sxtb16_odd(v0), a0);
        a1 = __smlad(xa, __sxtb16(v1), a1);
        a1 = __smlad(xb, emb_sxtb16_odd(v1), a1);
    }
    for (; i < n; i++) {
        a0 += ((int32_t)x[i] - zp) * w0[i];
        a1 += ((int32_t)x[i] - zp) * w1[i];
    }
    *acc0 = a0;
    *acc1 = a1;
}

/* acc0 += (x - zp) . w over n values. */
static inline int32_t emb_dot_1x1(const int8_t *x, const int8_t *w, int32_t n, int32_t zp,
                                  int32_t acc)
{
    const int32_t zp2 = emb_neg_zp2(zp);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const int32_t xv = emb_rd4(x + i), wv = emb_rd4(w + i);
        acc = __smlad(__sxtab16(zp2, xv), __sxtb16(wv), acc);
        acc = __smlad(emb_sxtab16_odd(zp2, xv), emb_sxtb16_odd(wv), acc);
    }
    for (; i < n; i++)
        acc += ((int32_t)x[i] - zp) * w[i];
    return acc;
}
#endif
