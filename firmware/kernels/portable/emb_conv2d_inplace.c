/* In-place depthwise conv2d for every kernel variant: the output is written over its own
 * input (one arena buffer), as TinyEngine does. The variant's emb_conv2d_s8 computes bands
 * of `band` output rows into a scratch of a few rows; a finished row is copied over the
 * buffer once no later band reads the input bytes it covers (the output starts where the
 * input starts, NHWC). The scratch size is the largest number of rows held at once
 * (edgemobilenet/backends/mcu/inplace.py mirrors this loop to size it). */
#include <string.h>

#include "emb_kernels.h"

void emb_conv2d_inplace_s8(const emb_conv_params *p, const int8_t *in, const int8_t *weight,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           int8_t *out, int32_t scratch_offset, int32_t band)
{
    int8_t *buf = out, *scratch = out + scratch_offset;
    const int32_t owc = p->out_w * p->out_c, iwc = p->in_w * p->in_c;
    const int32_t span = (p->k_h - 1) * p->dil_h + 1;
    int32_t done = 0;                     /* output rows already in buf */
    (void)in;                             /* == out: the same bytes */
    for (int32_t r0 = 0; r0 < p->out_h; r0 += band) {
        const int32_t r1 = r0 + band < p->out_h ? r0 + band : p->out_h;
        const int32_t lo = r0 * p->stride_h - p->pad_top;
        const int32_t hi = (r1 - 1) * p->stride_h - p->pad_top + span;
        const int32_t iy0 = lo > 0 ? lo : 0, iy1 = hi < p->in_h ? hi : p->in_h;
        emb_conv_params q = *p;
        q.in_h = iy1 - iy0;
        q.pad_top = iy0 - lo;
        q.out_h = r1 - r0;
        emb_conv2d_s8(&q, buf + iy0 * iwc, weight, bias, mult, shift,
                      scratch + (r0 - done) * owc);
        /* first input row a later band reads (all consumed after the last band) */
        int32_t next = r1 < p->out_h ? r1 * p->stride_h - p->pad_top : p->in_h;
        if (next < 0) next = 0;
        int32_t j = done;
        while (j < r1 && (j + 1) * owc <= next * iwc) j++;
        if (j > done) {
            memcpy(buf + done * owc, scratch, (size_t)((j - done) * owc));
            memmove(scratch, scratch + (j - done) * owc, (size_t)((r1 - j) * owc));
            done = j;
        }
    }
}
