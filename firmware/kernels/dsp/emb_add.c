/* add for Cortex-M4/M7 (OPS.md add): each MBQM in the exact one-multiply form of
 * emb_rq_apply (emb_fixedpoint.h) when its shift allows it (right shifts, multiplier 0),
 * else emb_mbqm_inl; the same results as portable/emb_add.c. The larger-scale input's
 * rescale is always exactly 0.5 (multiplier 2^30, shift 0), a left-shift form; its input
 * (x - zp) << left_shift is even and below 2^29 in magnitude (left_shift 1..21), where
 * MBQM(x, 2^30, 0) == x / 2 == MBQM(x, 2^31 - 1, -1), which the fast form takes. */
#include "emb_kernels.h"
#include "emb_fixedpoint.h"

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

void emb_add_s8(int32_t size, const int8_t *a, const int8_t *b, int32_t a_zp, int32_t b_zp,
                int32_t out_zp, int32_t left_shift, const int32_t m[3], const int32_t s[3],
                int32_t act_min, int32_t act_max, int8_t *out)
{
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
