/* im2col for the optimised conv paths: include AFTER defining the variant's
 * `copy_run(dst, src, n)` and `fill_run(dst, v, n)` (word-wise on DSP, predicated vectors on
 * MVE): the window walk is shared, the byte movers are the ISA's. */
#ifndef EMB_IM2COL_H
#define EMB_IM2COL_H
#include "emb_kernels.h"

/* Output pixels whose windows lie inside the image: columns ox_a .. ox_b - 1 (dil_w 1) and
 * rows oy_a .. oy_b - 1, the window's last row at least `margin` rows above the image's
 * last one (a kernel reading past a row's end wants margin 1). */
typedef struct {
    int32_t ox_a, ox_b, oy_a, oy_b;
} emb_inside;

static inline int32_t emb_ceil_pos(int32_t a, int32_t b) { return a > 0 ? (a + b - 1) / b : 0; }

static inline emb_inside emb_inside_range(const emb_conv_params *p, int32_t margin)
{
    const int32_t last = p->in_h - 1 - margin + p->pad_top - (p->k_h - 1) * p->dil_h;
    emb_inside r = {emb_ceil_pos(p->pad_left, p->stride_w),
                    p->in_w + p->pad_left >= p->k_w
                        ? (p->in_w + p->pad_left - p->k_w) / p->stride_w + 1 : 0,
                    emb_ceil_pos(p->pad_top, p->stride_h),
                    last >= 0 ? last / p->stride_h + 1 : 0};
    if (p->dil_w != 1) r.ox_b = 0;
    if (r.ox_b > p->out_w) r.ox_b = p->out_w;
    if (r.oy_b > p->out_h) r.oy_b = p->out_h;
    return r;
}

/* The (KH, KW, C) window of output pixel (oy, ox), kernel row kh at dst + kh * dst_row;
 * padded taps hold the zero point (x - zp = 0 once widened). */
static void emb_im2col(const emb_conv_params *p, const int8_t *in, int32_t oy, int32_t ox,
                       int8_t *dst, int32_t dst_row)
{
    const int32_t c = p->in_c, run = p->k_w * c, row = p->dil_h * p->in_w * c;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int cols_ok = p->dil_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w;
    if (cols_ok && iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h) {   /* interior */
        const int8_t *src = in + (iy0 * p->in_w + ix0) * c;
        for (int32_t kh = 0; kh < p->k_h; kh++, dst += dst_row, src += row) copy_run(dst, src, run);
        return;
    }
    for (int32_t kh = 0; kh < p->k_h; kh++, dst += dst_row) {
        const int32_t iy = iy0 + kh * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            fill_run(dst, (int8_t)p->in_zp, run);
        } else if (cols_ok) {
            copy_run(dst, in + (iy * p->in_w + ix0) * c, run);
        } else {
            for (int32_t kw = 0; kw < p->k_w; kw++) {
                const int32_t ix = ix0 + kw * p->dil_w;
                if (ix < 0 || ix >= p->in_w) fill_run(dst + kw * c, (int8_t)p->in_zp, c);
                else copy_run(dst + kw * c, in + (iy * p->in_w + ix) * c, c);
            }
        }
    }
}
#endif
