/* add for Cortex-M4/M7 (OPS.md add): each MBQM in the exact one-multiply form of
 * emb_rq_apply (emb_fixedpoint.h) when its shift allows it (right shifts, multiplier 0),
 * else emb_mbqm_inl; the same results as portable/emb_add.c. The larger-scale input's
 * rescale is always exactly 0.5 (multiplier 2^30, shift 0), a left-shift form; its input
 * (x - zp) << left_shift is even and below 2^29 in magnitude (left_shift 1..21), where
 * MBQM(x, 2^30, 0) == x / 2 == MBQM(x, 2^31 - 1, -1), which the fast form takes.
 * From ADD_TABLE_MIN values on, each input's rescale is a table of its 256 possible results
 * (2 x 1 KB on the stack), so a value costs two loads, an add and the output's MBQM. */
#include "emb_kernels.h"
#include "emb_fixedpoint.h"
#include "emb_dsp.h"
#include "emb_kernels_internal.h"

static inline int32_t ssat8(int32_t x)
{
#if defined(EMB_ACLE_EMULATED)
    return emb_clamp(x, -128, 127);
#else
    return __ssat(x, 8);
#endif
}

static inline int32_t rq(int32_t x, const emb_rq *r)
{
    return emb_rq_apply(x, r->m, r->klo, r->khi, r->e1);
}

static inline int input_fast(int32_t *m, int32_t *s, int32_t left_shift)
{
    if (*m == (1 << 30) && *s == 0 && left_shift >= 1 && left_shift <= 21) {
        *m = INT32_MAX;
        *s = -1;
    }
    return emb_rq_fast(*m, *s);
}

enum { ADD_TABLE_MIN = 192 };   /* the 2 tables cost about 100 values of the plain loop */

/* t[v + 128] = MBQM((v - zp) << left_shift, m, s) for every int8 v. In the fast form with
 * left_shift <= 21 (|x| < 2^29: no wrap) x * m + K grows by m * 2^left_shift per v, summed
 * in 64 bits; the sign term (-2^31 while x < 0, i.e. v < zp) is added up front and taken
 * out at v = zp: an add with carry and a shift per entry instead of the whole form. */
static void add_table(int32_t zp, int32_t left_shift, int32_t m, int32_t s, int32_t *t)
{
    int32_t mf = m, sf = s;
    const int fast = input_fast(&mf, &sf, left_shift);
    const emb_rq r = emb_rq_make(mf, fast ? sf : -1);
    if (fast && left_shift <= 21) {
        const int64_t step = (int64_t)r.m * (1LL << left_shift);
        int64_t p = (int64_t)r.khi * 4294967296LL + (int64_t)(uint32_t)r.klo +
                    (int64_t)((-128 - zp) * (1 << left_shift)) * r.m - 2147483648LL;
        for (int32_t v = -128; v < 128; v++, p += step) {
            if (v == zp) p += 2147483648LL;
            t[v + 128] = (int32_t)(p >> 32) >> r.e1;
        }
        return;
    }
    for (int32_t v = -128; v < 128; v++) {
        const int32_t x = (int32_t)((uint32_t)(v - zp) << left_shift);
        t[v + 128] = fast ? rq(x, &r) : emb_mbqm_inl(x, m, s);
    }
}

/* out[i] = SSAT(rq(ta[a[i]] + tb[b[i]]) + out_zp) over n >= 1 values, k = {m, klo, khi with
 * out_zp << e1 folded in, e1}: the whole int8 range. */
#if defined(EMB_ACLE_EMULATED)
static void add_full(const int8_t *a, const int8_t *b, const int32_t *ta, const int32_t *tb,
                     int8_t *out, int32_t n, const int32_t k[4])
{
    for (int32_t i = 0; i < n; i++) {
        const int32_t sum = (int32_t)((uint32_t)ta[a[i]] + (uint32_t)tb[b[i]]);
        out[i] = (int8_t)ssat8(emb_rq_apply(sum, k[0], k[1], k[2], k[3]));
    }
}
#else
/* 14 instructions a value (gcc: 18, with a spill). */
void emb_dsp_add_full(const int8_t *a, const int8_t *b, const int32_t *ta, const int32_t *tb,
                      int8_t *out, int32_t n, const int32_t k[4]);
__asm__(
    EMB_ASM_BEGIN("emb_dsp_add_full")
    "    push {r4-r11, lr}\n"
    "    ldrd r6, r7, [sp, #36]\n"             /* out, n */
    "    ldr ip, [sp, #44]\n"                  /* k */
    "    mov r4, r0\n"
    "    mov r5, r1\n"
    "    add r7, r4, r7\n"                     /* end of a */
    "    ldm ip, {r8-r11}\n"                   /* m, klo, khi, e1 */
    "1:  ldrsb r0, [r4], #1\n"
    "    ldrsb r1, [r5], #1\n"
    "    ldr r0, [r2, r0, lsl #2]\n"
    "    ldr r1, [r3, r1, lsl #2]\n"
    "    add r0, r0, r1\n"
    "    asr ip, r0, #31\n"
    "    adds r1, r9, ip, lsl #31\n"
    "    adc ip, r10, ip\n"
    "    smlal r1, ip, r0, r8\n"
    "    asr ip, ip, r11\n"
    "    ssat ip, #8, ip\n"
    "    strb ip, [r6], #1\n"
    "    cmp r4, r7\n"
    "    bne 1b\n"
    "    pop {r4-r11, pc}\n"
    EMB_ASM_END("emb_dsp_add_full"));
#define add_full emb_dsp_add_full
#endif

/* out[i] = clamp(rq(ta[a[i]] + tb[b[i]]) + out_zp) with the output's fast constants r; the
 * whole int8 range (act_min -128, act_max 127) apart: add_full when out_zp folds into khi
 * (the high word stays an int32, as in rq_fold: |hi32(sum * m)| <= 2^30). */
static void __attribute__((noinline)) add_tables_fast(
    int32_t n, const int8_t *a, const int8_t *b, const int32_t *ta, const int32_t *tb, emb_rq r,
    int32_t out_zp, int32_t act_min, int32_t act_max, int8_t *out)
{
    const int32_t m = r.m, klo = r.klo, khi = r.khi, e1 = r.e1;
    const uint32_t az = (uint32_t)(out_zp < 0 ? -out_zp : out_zp);
    if (act_min == -128 && act_max == 127 && az <= ((1u << 30) - 2u - (uint32_t)khi) >> e1) {
        const int32_t k[4] = {m, klo, (int32_t)((uint32_t)khi + (uint32_t)out_zp * (1u << e1)),
                              e1};
        add_full(a, b, ta, tb, out, n, k);
        return;
    }
    for (const int8_t *end = a + n; a != end; a++, b++, out++) {
        const int32_t sum = (int32_t)((uint32_t)ta[*a] + (uint32_t)tb[*b]);
        *out = (int8_t)emb_clamp(emb_rq_apply(sum, m, klo, khi, e1) + out_zp, act_min, act_max);
    }
}

void emb_add_s8(int32_t size, const int8_t *a, const int8_t *b, int32_t a_zp, int32_t b_zp,
                int32_t out_zp, int32_t left_shift, const int32_t m[3], const int32_t s[3],
                int32_t act_min, int32_t act_max, int8_t *out)
{
    if (size >= ADD_TABLE_MIN) {
        int32_t ta[256], tb[256];
        add_table(a_zp, left_shift, m[0], s[0], ta);
        add_table(b_zp, left_shift, m[1], s[1], tb);
        if (emb_rq_fast(m[2], s[2]))
            add_tables_fast(size, a, b, ta + 128, tb + 128, emb_rq_make(m[2], s[2]), out_zp,
                            act_min, act_max, out);
        else
            for (int32_t i = 0; i < size; i++) {
                const int32_t sum = (int32_t)((uint32_t)ta[a[i] + 128] + (uint32_t)tb[b[i] + 128]);
                out[i] = (int8_t)emb_clamp(emb_mbqm_inl(sum, m[2], s[2]) + out_zp, act_min,
                                           act_max);
            }
        return;
    }
    int32_t ma = m[0], sa = s[0], mb = m[1], sb = s[1];
    if (!(input_fast(&ma, &sa, left_shift) && input_fast(&mb, &sb, left_shift) &&
          emb_rq_fast(m[2], s[2]))) {
        for (int32_t i = 0; i < size; i++) {
            const int32_t a0 = (int32_t)((uint32_t)((int32_t)a[i] - a_zp) << left_shift);
            const int32_t b0 = (int32_t)((uint32_t)((int32_t)b[i] - b_zp) << left_shift);
            const int32_t sum = emb_mbqm_inl(a0, m[0], s[0]) + emb_mbqm_inl(b0, m[1], s[1]);
            out[i] = (int8_t)emb_clamp(emb_mbqm_inl(sum, m[2], s[2]) + out_zp, act_min,
                                       act_max);
        }
        return;
    }
    const emb_rq ra = emb_rq_make(ma, sa), rb = emb_rq_make(mb, sb);
    const emb_rq ro = emb_rq_make(m[2], s[2]);
    for (int32_t i = 0; i < size; i++) {
        const int32_t a0 = (int32_t)((uint32_t)((int32_t)a[i] - a_zp) << left_shift);
        const int32_t b0 = (int32_t)((uint32_t)((int32_t)b[i] - b_zp) << left_shift);
        const int32_t sum = (int32_t)((uint32_t)rq(a0, &ra) + (uint32_t)rq(b0, &rb));
        out[i] = (int8_t)emb_clamp(rq(sum, &ro) + out_zp, act_min, act_max);
    }
}
