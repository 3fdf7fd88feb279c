/* int8 kernels: one API, three implementations (portable/, dsp/, mve/) picked at build time
 * by EMB_KERNELS. Semantics: edgemobilenet/quant/OPS.md, bit for bit. NHWC, batch 1.
 * No malloc and no caller-provided buffers (but emb_conv2d_inplace_s8's scratch, planned
 * in the arena); optimised kernels use bounded stack scratch
 * (local arrays; a conv2d call needs at most about 2.2 KB of stack with dsp/, 3.0 KB with
 * mve/), so the firmware stack (16 KB) must leave room for it. */
#ifndef EMB_KERNELS_H
#define EMB_KERNELS_H
#include <stdint.h>

typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;          /* bottom/right padding is implied by out_h/out_w */
    int32_t dil_h, dil_w;
    int32_t groups;                     /* groups == in_c == out_c: depthwise */
    int32_t in_zp, out_zp;
    int32_t act_min, act_max;
    int32_t compact;                    /* dsp: 1 = pointwise weights stay int8 (packing.py);
                                           0 = the faster int16 "w16" layout. Others: unused */
} emb_conv_params;

/* Fixed point (OPS.md): exported so generated code and tests share one definition. */
int32_t emb_mbqm(int32_t x, int32_t multiplier, int32_t shift);

/* conv2d, any groups. weight: (out_c, k_h, k_w, in_c/groups) int8, unless the variant
 * declares a packed layout (see backends/mcu/packing.py). bias/mult/shift: (out_c,). */
void emb_conv2d_s8(const emb_conv_params *p, const int8_t *in, const int8_t *weight,
                   const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);

/* Depthwise conv2d in place (in == out, one buffer; portable/emb_conv2d_inplace.c): bands
 * of `band` output rows through emb_conv2d_s8 into a scratch at out + scratch_offset. */
void emb_conv2d_inplace_s8(const emb_conv_params *p, const int8_t *in, const int8_t *weight,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           int8_t *out, int32_t scratch_offset, int32_t band);

/* fully connected: in (in_c), weight (out_c, in_c). */
void emb_fully_connected_s8(int32_t in_c, int32_t out_c, const int8_t *in,
                            const int8_t *weight, const int32_t *bias, const int32_t *mult,
                            const int32_t *shift, int32_t in_zp, int32_t out_zp,
                            int32_t act_min, int32_t act_max, int8_t *out);

/* fully_connected with one rounding (TFLite per-channel FULLY_CONNECTED): int64 (acc * m)
 * shifted right by 31 - shift, half up. */
void emb_fully_connected_sr_s8(int32_t in_c, int32_t out_c, const int8_t *in,
                               const int8_t *weight, const int32_t *bias, const int32_t *mult,
                               const int32_t *shift, int32_t in_zp, int32_t out_zp,
                               int32_t act_min, int32_t act_max, int8_t *out);

/* add: m/s hold (input a, input b, output). */
void emb_add_s8(int32_t size, const int8_t *a, const int8_t *b, int32_t a_zp, int32_t b_zp,
                int32_t out_zp, int32_t left_shift, const int32_t m[3], const int32_t s[3],
                int32_t act_min, int32_t act_max, int8_t *out);

/* mul with b broadcast over the spatial positions: a (hw * c), b (c) or b (hw * c). */
void emb_mul_s8(int32_t hw, int32_t c, int32_t b_broadcast, const int8_t *a, const int8_t *b,
                int32_t a_zp, int32_t b_zp, int32_t out_zp, int32_t m, int32_t s,
                int32_t act_min, int32_t act_max, int8_t *out);

/* lut: out[i] = table[in[i] + 128]; in and out may alias. */
void emb_lut_s8(int32_t size, const int8_t *in, const int8_t table[256], int8_t *out);

/* average pool (global pool is k = in size, stride 1, no padding). */
void emb_avg_pool_s8(int32_t in_h, int32_t in_w, int32_t c, int32_t out_h, int32_t out_w,
                     int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w,
                     int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max,
                     const int8_t *in, int8_t *out);

/* resize by Q10 row/column tables (TFLite RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR). */
void emb_resize_table_s8(int32_t in_h, int32_t in_w, int32_t c, int32_t out_h, int32_t out_w,
                         const int8_t *in, const int32_t *rows, const int32_t *cols,
                         int8_t *out);

/* max pooling over the non-padded positions of each window (TFLite MAX_POOL_2D). */
void emb_max_pool_s8(int32_t in_h, int32_t in_w, int32_t c, int32_t out_h, int32_t out_w,
                     int32_t k_h, int32_t k_w, int32_t stride_h, int32_t stride_w,
                     int32_t pad_top, int32_t pad_left, int32_t act_min, int32_t act_max,
                     const int8_t *in, int8_t *out);

/* concat along the channel axis of one input into its slice of out (call once per input).
 * requant == 0: copy. */
void emb_concat_s8(int32_t hw, int32_t in_c, int32_t out_c, int32_t c_offset,
                   const int8_t *in, int32_t requant, int32_t in_zp, int32_t out_zp,
                   int32_t m, int32_t s, int8_t *out);

/* bilinear resize, half-pixel centres, Q10 (OPS.md). */
void emb_resize_bilinear_s8(int32_t in_h, int32_t in_w, int32_t c, int32_t out_h,
                            int32_t out_w, int32_t zp, const int8_t *in, int8_t *out);

/* softmax over n values: out scale 1/256, zero point -128. */
void emb_softmax_s8(int32_t n, const int8_t *in, const int32_t exp_table[256], int8_t *out);
#endif
