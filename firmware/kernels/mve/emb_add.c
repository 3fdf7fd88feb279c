/* add for Cortex-M55 (Helium): OPS.md add, 4 lanes per step (int8 widened to int32 by the
 * load, tail-predicated), each input rescaled with emb_mve_mbqm, the sum requantized. */
#include "emb_kernels.h"
#include "emb_mve.h"

void emb_add_s8(int32_t size, const int8_t *a, const int8_t *b, int32_t a_zp, int32_t b_zp,
                int32_t out_zp, int32_t left_shift, const int32_t m[3], const int32_t s[3],
                int32_t act_min, int32_t act_max, int8_t *out)
{
    const emb_mve_rq ra = emb_mve_rq_vec(vdupq_n_s32(m[0]), vdupq_n_s32(s[0]));
    const emb_mve_rq rb = emb_mve_rq_vec(vdupq_n_s32(m[1]), vdupq_n_s32(s[1]));
    const emb_mve_rq ro = emb_mve_rq_vec(vdupq_n_s32(m[2]), vdupq_n_s32(s[2]));
    for (int32_t i = 0; i < size; i += 4) {
        const mve_pred16_t p = vctp32q((uint32_t)(size - i));
        const int32x4_t x = vshlq_r_s32(vsubq_n_s32(vldrbq_z_s32(a + i, p), a_zp), left_shift);
        const int32x4_t y = vshlq_r_s32(vsubq_n_s32(vldrbq_z_s32(b + i, p), b_zp), left_shift);
        const int32x4_t sum = vaddq_s32(emb_mve_mbqm(x, ra), emb_mve_mbqm(y, rb));
        vstrbq_p_s32(out + i, emb_mve_requant(sum, ro, out_zp, act_min, act_max), p);
    }
}
