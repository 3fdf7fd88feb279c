/* fully_connected for Cortex-M55 (Helium): 4 output channels per pass, VMLADAVA over 16
 * inputs at a time, zero point folded as acc - zp * sum(w), vector requantization. */
#include "emb_kernels.h"
#include "emb_mve.h"

void emb_fully_connected_s8(int32_t in_c, int32_t out_c, const int8_t *in,
                            const int8_t *weight, const int32_t *bias, const int32_t *mult,
                            const int32_t *shift, int32_t in_zp, int32_t out_zp,
                            int32_t act_min, int32_t act_max, int8_t *out)
{
    for (int32_t oc = 0; oc < out_c; oc += 4) {
        const int32_t m = out_c - oc < 4 ? out_c - oc : 4;
        const mve_pred16_t p = vctp32q((uint32_t)m);
        int32_t acc[4] = {0, 0, 0, 0}, wsum[4] = {0, 0, 0, 0};
        emb_mve_dot4(in, weight + oc * in_c, in_c, in_c, m, acc, wsum);
        const int32x4_t b = vldrwq_z_s32(bias + oc, p);
        const int32x4_t a = vsubq_s32(vaddq_s32(emb_mve_vec4(acc), b),
                                      vmulq_n_s32(emb_mve_vec4(wsum), in_zp));
        const emb_mve_rq rq = emb_mve_rq_load(mult + oc, shift + oc, p);
        vstrbq_p_s32(out + oc, emb_mve_requant(a, rq, out_zp, act_min, act_max), p);
    }
}
