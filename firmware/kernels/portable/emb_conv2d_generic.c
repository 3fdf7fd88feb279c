/* conv2d for any groups / stride / padding / dilation: the reference loop nest every
 * specialised path falls back to. OHWI weights, NHWC activations. */
#include "emb_kernels_internal.h"
#include "emb_fixedpoint.h"

void emb_conv2d_generic_s8(const emb_conv_params *p, const int8_t *in, const int8_t *weight,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           int8_t *out)
{
    const int32_t cin_g = p->in_c / p->groups, cout_g = p->out_c / p->groups;
    const int32_t zp = p->in_zp;
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        int32_t kh0, kh1;
        emb_window(oy, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h, &kh0, &kh1);
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (int32_t ox = 0; ox < p->out_w; ox++) {
            int32_t kw0, kw1;
            emb_window(ox, p->stride_w, p->pad_left, p->dil_w, p->k_w, p->in_w, &kw0, &kw1);
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int8_t *o = out + (oy * p->out_w + ox) * p->out_c;
            for (int32_t oc = 0; oc < p->out_c; oc++) {
                const int32_t g = oc / cout_g;
                const int8_t *w_oc = weight + oc * p->k_h * p->k_w * cin_g;
                int32_t acc = bias[oc];
                for (int32_t kh = kh0; kh < kh1; kh++) {
                    const int32_t iy = iy0 + kh * p->dil_h;
                    for (int32_t kw = kw0; kw < kw1; kw++) {
                        const int32_t ix = ix0 + kw * p->dil_w;
                        const int8_t *x = in + (iy * p->in_w + ix) * p->in_c + g * cin_g;
                        const int8_t *w = w_oc + (kh * p->k_w + kw) * cin_g;
                        for (int32_t ic = 0; ic < cin_g; ic++)
                            acc += ((int32_t)x[ic] - zp) * (int32_t)w[ic];
                    }
                }
                o[oc] = emb_requant(acc, mult[oc], shift[oc], p->out_zp, p->act_min,
                                    p->act_max);
            }
        }
    }
}
