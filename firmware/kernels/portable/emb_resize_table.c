/* resize by Q10 row/column tables on raw int8 values (OPS.md resize_table: TFLite's
 * RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR). Rows and columns are [i0, i1, w0, w1]. */
#include "emb_kernels_internal.h"
#include "emb_fixedpoint.h"

void emb_resize_table_s8(int32_t in_h, int32_t in_w, int32_t c, int32_t out_h, int32_t out_w,
                         const int8_t *in, const int32_t *rows, const int32_t *cols,
                         int8_t *out)
{
    (void)in_h;
    for (int32_t oy = 0; oy < out_h; oy++) {
        const int32_t *r = rows + 4 * oy;
        for (int32_t ox = 0; ox < out_w; ox++) {
            const int32_t *k = cols + 4 * ox;
            int8_t *o = out + (oy * out_w + ox) * c;
            for (int32_t ch = 0; ch < c; ch++) {
                int64_t v = 0;
                for (int32_t a = 0; a < 2; a++)
                    for (int32_t b = 0; b < 2; b++)
                        v += (int64_t)in[(r[a] * in_w + k[b]) * c + ch] * r[2 + a] * k[2 + b];
                v += v > 0 ? (1 << 19) : -(1 << 19);
                v = v >= 0 ? v >> 20 : -((-v) >> 20);
                o[ch] = (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v));
            }
        }
    }
}
