/* Cortex-M4/M7 DSP-extension helpers (private to dsp/): word loads and SXTB16 byte splits.
 * A word of 4 int8 values splits into (b0, b2) and (b1, b3) int16 pairs; activations and
 * weights are split the same way, so SMLAD pairs them up without any reordering. */
#ifndef EMB_DSP_H
#define EMB_DSP_H
#include <stdint.h>
#include <string.h>
#include <arm_acle.h>
#include "emb_fixedpoint.h"

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

static inline void emb_wr4(int8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void emb_wr2(int8_t *p, uint32_t v) { memcpy(p, &v, 2); }

/* Output stage shared by a layer: out_zp + 128 and the act clamp as 4 uint8 lanes. */
typedef struct {
    int32_t zp128;
    uint32_t lo4, hi4;
} emb_out4;

static inline emb_out4 emb_out4_make(int32_t out_zp, int32_t act_min, int32_t act_max)
{
    emb_out4 o = {out_zp + 128, (uint32_t)(act_min + 128) * 0x01010101u,
                  (uint32_t)(act_max + 128) * 0x01010101u};
    return o;
}

/* One output of emb_rq_apply as uint8 (value + 128), clamped to the int8 range. */
static inline uint32_t emb_rq_u8(int32_t acc, const emb_rq *r, int32_t zp128)
{
    return __usat(emb_rq_apply(acc, r->m, r->klo, r->khi, r->e1) + zp128, 8);
}

/* 4 uint8 lanes -> act clamp per lane (UQSUB8 / UADD8 / USUB8) -> 4 int8 lanes. */
static inline uint32_t emb_clamp4(uint32_t u, const emb_out4 *o)
{
    u = __uadd8(__uqsub8(u, o->lo4), o->lo4);
    u = __usub8(o->hi4, __uqsub8(o->hi4, u));
    return u ^ 0x80808080u;
}

/* 4 accumulators -> 4 int8 outputs in one word: bytes 0, 1 from a0, a1 with constants
 * r[0], r[1]; bytes 2, 3 from a2, a3 with s[0], s[1]. */
static inline uint32_t emb_rq4(int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                               const emb_rq r[2], const emb_rq s[2], const emb_out4 *o)
{
#if defined(EMB_ACLE_EMULATED)
    const uint32_t u = emb_rq_u8(a0, &r[0], o->zp128) | emb_rq_u8(a1, &r[1], o->zp128) << 8 |
                       emb_rq_u8(a2, &s[0], o->zp128) << 16 |
                       emb_rq_u8(a3, &s[1], o->zp128) << 24;
#else
    /* emb_rq_apply + zp + USAT per lane, constants fetched with two LDRD per lane. */
    uint32_t u;
    const emb_rq *rp = r, *sp = s;
    int32_t m, lo, hi, e1, sg;
#define EMB_RQ_LANE(a, ptr, first)                                                          \
    "ldrd %[m], %[lo], [" ptr "], #8\n\t"                                                  \
    "ldrd %[hi], %[e1], [" ptr "], #8\n\t"                                                 \
    "asr %[sg], " a ", #31\n\t"                                                             \
    "adds %[lo], %[lo], %[sg], lsl #31\n\t"                                                 \
    "adc %[hi], %[hi], %[sg]\n\t"                                                           \
    "smlal %[lo], %[hi], " a ", %[m]\n\t"                                                   \
    "asr %[hi], %[hi], %[e1]\n\t"                                                           \
    "add %[hi], %[hi], %[zp]\n\t"                                                           \
    "usat %[hi], #8, %[hi]\n\t"                                                             \
    first
    __asm__(EMB_RQ_LANE("%[a0]", "%[rp]", "mov %[u], %[hi]\n\t")
            EMB_RQ_LANE("%[a1]", "%[rp]", "orr %[u], %[u], %[hi], lsl #8\n\t")
            EMB_RQ_LANE("%[a2]", "%[sp]", "orr %[u], %[u], %[hi], lsl #16\n\t")
            EMB_RQ_LANE("%[a3]", "%[sp]", "orr %[u], %[u], %[hi], lsl #24")
            : [u] "=&r"(u), [rp] "+r"(rp), [sp] "+r"(sp), [m] "=&r"(m), [lo] "=&r"(lo),
              [hi] "=&r"(hi), [e1] "=&r"(e1), [sg] "=&r"(sg)
            : [a0] "r"(a0), [a1] "r"(a1), [a2] "r"(a2), [a3] "r"(a3), [zp] "r"(o->zp128),
              "m"(*(const emb_rq(*)[2])r), "m"(*(const emb_rq(*)[2])s)
            : "cc");
#undef EMB_RQ_LANE
#endif
    return emb_clamp4(u, o);
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
