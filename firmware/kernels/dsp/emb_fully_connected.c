/* fully_connected for Cortex-M4/M7 (SMLAD): 2 output channels share each input word. */
#include "emb_kernels.h"
#include "emb_fixedpoint.h"
#include "emb_dsp.h"

void emb_fully_connected_s8(int32_t in_c, int32_t out_c, const int8_t *in,
                            const int8_t *weight, const int32_t *bias, const int32_t *mult,
                            const int32_t *shift, int32_t in_zp, int32_t out_zp,
                            int32_t act_min, int32_t act_max, int8_t *out)
{
    int32_t oc = 0;
    for (; oc + 2 <= out_c; oc += 2) {
        int32_t a0 = bias[oc], a1 = bias[oc + 1];
        const int8_t *w0 = weight + oc * in_c;
        emb_dot_1x2(in, w0, w0 + in_c, in_c, in_zp, &a0, &a1);
        out[oc] = emb_requant(a0, mult[oc], shift[oc], out_zp, act_min, act_max);
        out[oc + 1] = emb_requant(a1, mult[oc + 1], shift[oc + 1], out_zp, act_min, act_max);
    }
    if (oc < out_c) {
        const int32_t a = emb_dot_1x1(in, weight + oc * in_c, in_c, in_zp, bias[oc]);
        out[oc] = emb_requant(a, mult[oc], shift[oc], out_zp, act_min, act_max);
    }
}
