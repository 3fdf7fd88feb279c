/* fully_connected (portable C99): y[oc] = requant(bias + sum (x - zp) * w[oc]). */
#include "emb_kernels_internal.h"
#include "emb_fixedpoint.h"

void emb_fully_connected_s8(int32_t in_c, int32_t out_c, const int8_t *in,
                            const int8_t *weight, const int32_t *bias, const int32_t *mult,
                            const int32_t *shift, int32_t in_zp, int32_t out_zp,
                            int32_t act_min, int32_t act_max, int8_t *out)
{
    for (int32_t oc = 0; oc < out_c; oc++) {
        const int32_t acc = emb_dense_acc(in, weight + oc * in_c, in_c, in_zp, bias[oc]);
        out[oc] = emb_requant(acc, mult[oc], shift[oc], out_zp, act_min, act_max);
    }
}
