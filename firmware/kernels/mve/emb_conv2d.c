/* conv2d for Cortex-M55 (Helium).
 * - pointwise (1x1, groups 1): weights in blocks of 4 output channels (packing.py), zp *
 *   sum(w) once per block, then 2 pixels x 4 channels per VMLADAVA pass (hand-written loop);
 *   dense with C = 8 / 16: a pixel one vector, the block's weights in registers (pw_k);
 * - groups 1, kernel rows of <= 16 bytes (KW * C <= 16, KH <= 3: the first conv): each
 *   window 1 (rows <= 4 bytes) or 3 vectors, one VMLADAV per vector and output channel
 *   (conv_rows_k);
 * - groups 1, small window (K = KH * KW * C <= 256, OC <= 64: the first conv): windows of 2
 *   pixels copied to the stack (512 bytes), then the pointwise loop, pointwise weight layout;
 * - groups 1, any other kernel (dil_w 1): kernel rows are contiguous k_w * C runs (NHWC /
 *   OHWI), dot products with the weight sums of the valid taps accumulated alongside;
 * - depthwise: weights packed (KH, KW, C) by packing.py; 8 channels per block in int16
 *   lanes (VMULLB / VMULLT), the remaining channels 4 per vector; 3x3 stride 1 / 2: the
 *   block's rows copied with their padding to a 2 KB buffer, 2 outputs per pass (dw3);
 * - anything else: the portable generic loop.
 * All paths requantize 4 channels at a time (emb_mve_requant, bit-exact with OPS.md). */
#include <stddef.h>
#include <string.h>
#include "emb_kernels_internal.h"
#include "emb_mve.h"

/* Four 16-byte weight loads, each dotted with the two pixels' q0 / q1 into their channel's
 * accumulator (r0 r8, r2 r10, r4 r12, r6 lr): A "a" accumulates (vmladava), "" starts them. */
#define EMB_PW_DOT(A)                                                                        \
    "    vldrb.8 q2, [r5], #16\n"                                                            \
    "    vmladav" A ".s8 r0, q0, q2\n"                                                       \
    "    vmladav" A ".s8 r8, q1, q2\n"                                                       \
    "    vldrb.8 q3, [r5], #16\n"                                                            \
    "    vmladav" A ".s8 r2, q0, q3\n"                                                       \
    "    vmladav" A ".s8 r10, q1, q3\n"                                                      \
    "    vldrb.8 q2, [r5], #16\n"                                                            \
    "    vmladav" A ".s8 r4, q0, q2\n"                                                       \
    "    vmladav" A ".s8 r12, q1, q2\n"                                                      \
    "    vldrb.8 q3, [r5], #16\n"                                                            \
    "    vmladav" A ".s8 r6, q0, q3\n"                                                       \
    "    vmladav" A ".s8 lr, q1, q3\n"

/* Entry of a pixel-pair routine: registers saved, r9 the context, r1 its input pointer, q4 / q5
 * its multipliers and rounding shifts. */
#define EMB_PW_ENTER(name)                                                                  \
    EMB_ASM_BEGIN(name)                                                                     \
    "    push {r4-r11, lr}\n"                                                               \
    "    vpush {d8-d15}\n"                                                                  \
    "    mov r9, r0\n"                                                                      \
    "    ldr r1, [r9]\n"                                                                    \
    "    vldrw.32 q4, [r9, #52]\n"                                                          \
    "    vldrw.32 q5, [r9, #68]\n"

/* Label 2: the remaining 16-byte steps of both pixels (r7 of them); label 3: their last
 * C % 16 bytes (predicated loads; none: on to label 4). */
#define EMB_PW_LOOP_REST                                                                    \
    "2:  vldrb.8 q0, [r1], #16\n"                                                           \
    "    vldrb.8 q1, [r3], #16\n"                                                           \
    EMB_PW_DOT("a")                                                                         \
    "    subs r7, r7, #1\n"                                                                 \
    "    bne 2b\n"                                                                          \
    "3:  ldr r7, [r9, #12]\n"                                                               \
    "    cbz r7, 4f\n"                                                                      \
    "    vctp.8 r7\n"                                                                       \
    "    vpstt\n"                                                                           \
    "    vldrbt.8 q0, [r1]\n"                                                               \
    "    vldrbt.8 q1, [r3]\n"                                                               \
    "    add r1, r1, r7\n"                                                                  \
    "    add r3, r3, r7\n"

/* After a pixel pair's second store: the output pointer past it saved, the pair count down,
 * back to the loop's label 1 while pairs are left, else return. */
#define EMB_PW_PAIR_DONE                                                                    \
    "    add r5, r5, r11\n"                                                                 \
    "    str r5, [r9, #20]\n"                                                               \
    "    ldr r7, [r9, #28]\n"                                                               \
    "    subs r7, r7, #1\n"                                                                 \
    "    str r7, [r9, #28]\n"                                                               \
    "    bne 1b\n"                                                                          \
    "    vpop {d8-d15}\n"                                                                   \
    "    pop {r4-r11, pc}\n"

/* emb_mve_pw_2x4 (declared in emb_mve.h). */
__asm__(
    EMB_ASM_BEGIN("emb_mve_pw_2x4")
    "    push {r4-r11, lr}\n"
    "    mov r7, r3\n"
    "    mov r3, r1\n"
    "    mov r1, r0\n"
    "    mov r5, r2\n"
    "    ldr r12, [sp, #36]\n"
    "    ldrd r0, r2, [r12]\n"
    "    ldrd r4, r6, [r12, #8]\n"
    "    ldrd r8, r10, [r12, #16]\n"
    "    ldr lr, [r12, #28]\n"
    "    ldr r12, [r12, #24]\n"
    "    cbz r7, 2f\n"
    "1:  vldrb.8 q0, [r1], #16\n"
    "    vldrb.8 q1, [r3], #16\n"
    EMB_PW_DOT("a")
    "    subs r7, #1\n"
    "    bne 1b\n"
    "2:  ldr r7, [sp, #36]\n"
    "    strd r0, r2, [r7]\n"
    "    strd r4, r6, [r7, #8]\n"
    "    strd r8, r10, [r7, #16]\n"
    "    str r12, [r7, #24]\n"
    "    str lr, [r7, #28]\n"
    "    pop {r4-r11, pc}\n"
    EMB_ASM_END("emb_mve_pw_2x4"));

/* A run of pixel pairs of one block of 4 output channels (pointwise, dense): everything the
 * loops below read, at fixed byte offsets. */
typedef struct {
    const int8_t *x, *w;         /* 0, 4: first pixel; the block's packed weights */
    int32_t n16, tail, c;        /* 8, 12, 16: C / 16, C % 16, C */
    int8_t *o;                   /* 20: output of the pair's first pixel */
    int32_t o_step, pairs, zp;   /* 24, 28, 32: out_c, pixel pairs, out_zp */
    int32_t base[4];             /* 36: bias - in_zp * sum(w) */
    int32_t mult[4], right[4];   /* 52, 68: VQRDMULH multipliers, VRSHL shifts (<= 0) */
    int32_t lo[4], hi[4];        /* 84, 100: act_min, act_max */
    int32_t left[4];             /* 116: VSHL left shifts (>= 0; emb_mve_pw_run_lsh only) */
} pw_run_ctx;
_Static_assert(offsetof(pw_run_ctx, base) == 36 && offsetof(pw_run_ctx, hi) == 100 &&
               offsetof(pw_run_ctx, left) == 116, "emb_mve_pw_run offsets");

/* The pixel-pair loop of conv_pointwise with emb_mve_pw_2x4's dot products (plus a
 * predicated C % 16 tail) and emb_mve_requant in registers: about 40 instructions per pair
 * besides the dot products. emb_mve_pw_run: no left shifts (shift <= 0: dead channels, any
 * right shift); emb_mve_pw_run_lsh: a block with a left shift (VSHL first, 4 more
 * instructions a pair); *_pos: act_min >= out_zp, without the rounding fix-up of negative
 * values (EMB_PW_FIX; see emb_mve_requant_pos). */
void emb_mve_pw_run(pw_run_ctx *k);
void emb_mve_pw_run_lsh(pw_run_ctx *k);
void emb_mve_pw_run_pos(pw_run_ctx *k);
void emb_mve_pw_run_lsh_pos(pw_run_ctx *k);
#define EMB_PW_FIX                                                                          \
    "    vand q1, q0, q5\n"                                                                  \
    "    vshr.s32 q1, q1, #31\n"                                                             \
    "    vqadd.s32 q0, q0, q1\n"
#define EMB_PW_RQ(FIX)                                                                      \
    "    vqrdmulh.s32 q0, q0, q4\n"                                                          \
    FIX                                                                                     \
    "    vrshl.s32 q0, q0, q5\n"                                                             \
    "    vadd.i32 q0, q0, r7\n"                                                              \
    "    vmax.s32 q0, q0, q6\n"                                                              \
    "    vmin.s32 q0, q0, q7\n"
#define EMB_PW_TAIL_W(a0, a1)                                                               \
    "    vpst\n"                                                                             \
    "    vldrbt.8 q2, [r5]\n"                                                                \
    "    add r5, r5, r7\n"                                                                   \
    "    vmladava.s8 " a0 ", q0, q2\n"                                                       \
    "    vmladava.s8 " a1 ", q1, q2\n"
#define EMB_PW_RUN_ASM(name, LSH, FIX)                                                    \
    __asm__(                                                                            \
    EMB_PW_ENTER(name)                                                                  \
    "    vldrw.32 q6, [r9, #84]\n"                                                      \
    "    vldrw.32 q7, [r9, #100]\n"                                                     \
    "1:  ldrd r5, r7, [r9, #4]\n"              /* w, n16 */                             \
    "    ldr r3, [r9, #16]\n"                                                           \
    "    add r3, r1, r3\n"                     /* x1 = x0 + c */                        \
    "    ldrd r0, r2, [r9, #36]\n"                                                      \
    "    ldrd r4, r6, [r9, #44]\n"                                                      \
    "    mov r8, r0\n"                                                                  \
    "    mov r10, r2\n"                                                                 \
    "    mov r12, r4\n"                                                                 \
    "    mov lr, r6\n"                                                                  \
    "    cbz r7, 3f\n"                                                                  \
    EMB_PW_LOOP_REST                                                                    \
    EMB_PW_TAIL_W("r0", "r8") EMB_PW_TAIL_W("r2", "r10")                                \
    EMB_PW_TAIL_W("r4", "r12") EMB_PW_TAIL_W("r6", "lr")                                \
    "4:  mov r1, r3\n"                        /* next pair */                           \
    "    ldr r7, [r9, #32]\n"                                                           \
    "    vmov q0[2], q0[0], r0, r4\n"                                                   \
    "    vmov q0[3], q0[1], r2, r6\n"                                                   \
    LSH EMB_PW_RQ(FIX)                                                                  \
    "    ldrd r5, r11, [r9, #20]\n"            /* o, o_step */                          \
    "    vstrb.32 q0, [r5]\n"                                                           \
    "    vmov q0[2], q0[0], r8, r12\n"                                                  \
    "    vmov q0[3], q0[1], r10, lr\n"                                                  \
    LSH EMB_PW_RQ(FIX)                                                                  \
    "    add r5, r5, r11\n"                                                             \
    "    vstrb.32 q0, [r5]\n"                                                           \
    EMB_PW_PAIR_DONE                                                                    \
    EMB_ASM_END(name));
#define EMB_PW_LSH                                                                          \
    "    vldrw.32 q2, [r9, #116]\n"                                                         \
    "    vshl.s32 q0, q0, q2\n"
EMB_PW_RUN_ASM("emb_mve_pw_run", "", EMB_PW_FIX)
EMB_PW_RUN_ASM("emb_mve_pw_run_lsh", EMB_PW_LSH, EMB_PW_FIX)
EMB_PW_RUN_ASM("emb_mve_pw_run_pos", "", "")
EMB_PW_RUN_ASM("emb_mve_pw_run_lsh_pos", EMB_PW_LSH, "")
#undef EMB_PW_LSH
#undef EMB_PW_RUN_ASM

/* emb_mve_pw_run_sat[fix]: emb_mve_pw_run[_pos] for blocks without left shifts, the clamp the
 * whole int8 range and C >= 16 (_sat: act_min >= out_zp, no rounding fix-up): the first 16
 * channels with VMLADAV (no accumulator set-up; the base added as a vector kept in q6), the
 * pair narrowed with saturation as in emb_mve_pw_k*_sat (32 instead of 38 instructions a
 * pair besides the dot products). */
void emb_mve_pw_run_sat(pw_run_ctx *k);
void emb_mve_pw_run_satfix(pw_run_ctx *k);
#define EMB_PW_SAT_ASM(name, FIX)                                                            \
    __asm__(                                                                                 \
    EMB_PW_ENTER(name)                                                                       \
    "    vldrw.32 q6, [r9, #36]\n"                                                           \
    "    ldr r7, [r9, #32]\n"                                                                \
    "    vdup.16 q7, r7\n"                    /* out_zp, int16 lanes */                       \
    "1:  ldrd r5, r7, [r9, #4]\n"             /* w, n16 (>= 1) */                            \
    "    ldr r3, [r9, #16]\n"                                                                \
    "    add r3, r1, r3\n"                    /* x1 = x0 + c */                              \
    "    vldrb.8 q0, [r1], #16\n"                                                            \
    "    vldrb.8 q1, [r3], #16\n"                                                            \
    EMB_PW_DOT("")                                                                           \
    "    subs r7, r7, #1\n"                                                                  \
    "    beq 3f\n"                                                                           \
    EMB_PW_LOOP_REST                                                                         \
    "    vpst\n    vldrbt.8 q2, [r5]\n    add r5, r5, r7\n"                                  \
    "    vmladava.s8 r0, q0, q2\n    vmladava.s8 r8, q1, q2\n"                               \
    "    vpst\n    vldrbt.8 q2, [r5]\n    add r5, r5, r7\n"                                  \
    "    vmladava.s8 r2, q0, q2\n    vmladava.s8 r10, q1, q2\n"                              \
    "    vpst\n    vldrbt.8 q2, [r5]\n    add r5, r5, r7\n"                                  \
    "    vmladava.s8 r4, q0, q2\n    vmladava.s8 r12, q1, q2\n"                              \
    "    vpst\n    vldrbt.8 q2, [r5]\n    add r5, r5, r7\n"                                  \
    "    vmladava.s8 r6, q0, q2\n    vmladava.s8 lr, q1, q2\n"                               \
    "4:  mov r1, r3\n"                       /* next pair */                                 \
    "    vmov q0[2], q0[0], r0, r4\n"                                                        \
    "    vmov q0[3], q0[1], r2, r6\n"                                                        \
    "    vmov q1[2], q1[0], r8, r12\n"                                                       \
    "    vmov q1[3], q1[1], r10, lr\n"                                                       \
    "    vadd.i32 q0, q0, q6\n"                                                              \
    "    vadd.i32 q1, q1, q6\n"                                                              \
    "    vqrdmulh.s32 q0, q0, q4\n"                                                          \
    "    vqrdmulh.s32 q1, q1, q4\n"                                                          \
    FIX                                                                                      \
    "    vrshl.s32 q0, q0, q5\n"                                                             \
    "    vrshl.s32 q1, q1, q5\n"                                                             \
    "    vqmovnb.s32 q2, q0\n"                                                               \
    "    vqmovnt.s32 q2, q1\n"                                                               \
    "    vqadd.s16 q2, q2, q7\n"                                                             \
    "    vqmovnb.s16 q0, q2\n"                                                               \
    "    ldrd r5, r11, [r9, #20]\n"            /* o, o_step */                               \
    "    vstrb.32 q0, [r5]\n"                                                                \
    "    vshr.u32 q0, q0, #16\n"                                                             \
    "    add r5, r5, r11\n"                                                                  \
    "    vstrb.32 q0, [r5]\n"                                                                \
    EMB_PW_PAIR_DONE                                                                         \
    EMB_ASM_END(name));
#define EMB_PW_SAT_FIX                                                                      \
    "    vand q2, q0, q5\n    vshr.s32 q2, q2, #31\n    vqadd.s32 q0, q0, q2\n"              \
    "    vand q2, q1, q5\n    vshr.s32 q2, q2, #31\n    vqadd.s32 q1, q1, q2\n"
EMB_PW_SAT_ASM("emb_mve_pw_run_sat", "")
EMB_PW_SAT_ASM("emb_mve_pw_run_satfix", EMB_PW_SAT_FIX)
#undef EMB_PW_SAT_FIX
#undef EMB_PW_SAT_ASM
#undef EMB_PW_TAIL_W
#undef EMB_PW_DOT
#undef EMB_PW_PAIR_DONE
#undef EMB_PW_ENTER
#undef EMB_PW_LOOP_REST
#undef EMB_PW_RQ
#undef EMB_PW_FIX

/* A run of pixel pairs of a dense pointwise conv with C = 8 or 16 (the small-K layers of
 * narrow MobileNetV2s), one block of 4 output channels: a pixel is one vector (C = 16:
 * int8 lanes; C = 8: widened to int16 lanes), the block's 4 weight vectors stay in
 * registers, 4 VMLADAV per pixel, the pair requantized together. */
typedef struct {
    const int8_t *x;              /* 0: first pixel */
    int8_t *o;                    /* 4: its output */
    int32_t o_step, pairs, zp;    /* 8, 12, 16: out_c, pixel pairs, out_zp */
    int32_t pad_[3];
    int8_t w[4][16];              /* 32: weights (C = 8: as int16) */
    int32_t base[4], left[4];     /* 96, 112: bias - in_zp * sum(w); VSHL shifts (>= 0) */
    int32_t mult[4], right[4];    /* 128, 144: VQRDMULH multipliers; VRSHL shifts (<= 0) */
    int32_t lo[4], hi[4];         /* 160, 176: act_min, act_max */
} pwk_ctx;
_Static_assert(offsetof(pwk_ctx, w) == 32 && offsetof(pwk_ctx, hi) == 176,
               "emb_mve_pw_k offsets");

/* emb_mve_pw_k{8,16}[_fast|_sat|_satfix]: _fast: act_min >= out_zp (no rounding fix-up)
 * and no left shifts in the block (no VSHL; the multipliers stay in q7); _sat: _fast with
 * the clamp the whole int8 range (saturating narrows instead of VMAX / VMIN); _satfix: that
 * clamp and no left shifts, act_min < out_zp (with the fix-up). */
void emb_mve_pw_k8(pwk_ctx *k);
void emb_mve_pw_k8_fast(pwk_ctx *k);
void emb_mve_pw_k8_sat(pwk_ctx *k);
void emb_mve_pw_k8_satfix(pwk_ctx *k);
void emb_mve_pw_k16(pwk_ctx *k);
void emb_mve_pw_k16_fast(pwk_ctx *k);
void emb_mve_pw_k16_sat(pwk_ctx *k);
void emb_mve_pw_k16_satfix(pwk_ctx *k);
#define PWK_DOT(LD, DT, q)                                                                  \
    LD                                                                                      \
    "    vmladav." DT " r0, q4, q0\n"                                                       \
    "    vmladav." DT " r2, q4, q1\n"                                                       \
    "    vmladav." DT " r4, q4, q2\n"                                                       \
    "    vmladav." DT " r6, q4, q3\n"                                                       \
    "    vmov " q "[2], " q "[0], r0, r4\n"                                                 \
    "    vmov " q "[3], " q "[1], r2, r6\n"
#define PWK_FIX                                                                             \
    "    vand q7, q5, q4\n    vshr.s32 q7, q7, #31\n    vqadd.s32 q5, q5, q7\n"              \
    "    vand q7, q6, q4\n    vshr.s32 q7, q7, #31\n    vqadd.s32 q6, q6, q7\n"
#define PWK_LSH_MUL                                                                         \
    "    vldrw.32 q4, [r12, #112]\n"                                                        \
    "    vshl.s32 q5, q5, q4\n"                                                             \
    "    vshl.s32 q6, q6, q4\n"                                                             \
    "    vldrw.32 q4, [r12, #128]\n"                                                        \
    "    vqrdmulh.s32 q5, q5, q4\n"                                                         \
    "    vqrdmulh.s32 q6, q6, q4\n"
#define PWK_MUL                                                                             \
    "    vldrw.32 q4, [r12, #128]\n"                                                        \
    "    vqrdmulh.s32 q5, q5, q4\n"                                                         \
    "    vqrdmulh.s32 q6, q6, q4\n"
#define PWK_MUL_Q7                                                                          \
    "    vqrdmulh.s32 q5, q5, q7\n"                                                         \
    "    vqrdmulh.s32 q6, q6, q7\n"
#define PWK_ASM(name, LD, DT, PRE, MUL, FIX, OUT)                                           \
    __asm__(                                                                                \
    EMB_ASM_BEGIN(name)                                                                     \
    "    push {r4-r11, lr}\n"                                                               \
    "    vpush {d8-d15}\n"                                                                  \
    "    mov r12, r0\n"                                                                     \
    "    ldrd r1, r3, [r12, #0]\n"                                                          \
    "    ldrd r8, lr, [r12, #8]\n"                                                          \
    "    ldr r7, [r12, #16]\n"                                                              \
    "    vldrw.32 q0, [r12, #32]\n"                                                         \
    "    vldrw.32 q1, [r12, #48]\n"                                                         \
    "    vldrw.32 q2, [r12, #64]\n"                                                         \
    "    vldrw.32 q3, [r12, #80]\n"                                                         \
    PRE                                                                                     \
    "    dls lr, lr\n"                                                                      \
    "1:\n"                                                                                  \
    PWK_DOT(LD, DT, "q5") PWK_DOT(LD, DT, "q6")                                             \
    "    vldrw.32 q4, [r12, #96]\n"                                                         \
    "    vadd.i32 q5, q5, q4\n"                                                             \
    "    vadd.i32 q6, q6, q4\n"                                                             \
    MUL                                                                                     \
    "    vldrw.32 q4, [r12, #144]\n"                                                        \
    FIX                                                                                     \
    "    vrshl.s32 q5, q5, q4\n"                                                            \
    "    vrshl.s32 q6, q6, q4\n"                                                            \
    OUT                                                                                     \
    "    le lr, 1b\n"                                                                       \
    "    vpop {d8-d15}\n"                                                                   \
    "    pop {r4-r11, pc}\n"                                                                \
    EMB_ASM_END(name));
/* out_zp added, clamped, stored */
#define PWK_OUT_CLAMP                                                                       \
    "    vadd.i32 q5, q5, r7\n    vadd.i32 q6, q6, r7\n"                                    \
    "    vldrw.32 q4, [r12, #160]\n    vmax.s32 q5, q5, q4\n    vmax.s32 q6, q6, q4\n"      \
    "    vldrw.32 q4, [r12, #176]\n    vmin.s32 q5, q5, q4\n    vmin.s32 q6, q6, q4\n"      \
    "    vstrb.32 q5, [r3]\n    add r3, r3, r8\n    vstrb.32 q6, [r3]\n    add r3, r3, r8\n"
/* act_min -128, act_max 127: the clamp is int8 saturation (sat8(sat16(sat16(x) + zp)) ==
 * sat8(x + zp), |zp| <= 128); q4's int16 lanes alternate the 2 pixels, so after the
 * narrowing to int8 the first pixel is the low byte of each word, the second the third */
#define PWK_OUT_SAT                                                                         \
    "    vqmovnb.s32 q4, q5\n    vqmovnt.s32 q4, q6\n    vqadd.s16 q4, q4, r7\n"          \
    "    vqmovnb.s16 q5, q4\n    vstrb.32 q5, [r3]\n    vshr.u32 q5, q5, #16\n"            \
    "    add r3, r3, r8\n    vstrb.32 q5, [r3]\n    add r3, r3, r8\n"
#define PWK_LD8 "    vldrb.s16 q4, [r1], #8\n"
#define PWK_LD16 "    vldrb.8 q4, [r1], #16\n"
#define PWK_PRE_Q7 "    vldrw.32 q7, [r12, #128]\n"
PWK_ASM("emb_mve_pw_k8", PWK_LD8, "s16", "", PWK_LSH_MUL, PWK_FIX, PWK_OUT_CLAMP)
PWK_ASM("emb_mve_pw_k8_fast", PWK_LD8, "s16", PWK_PRE_Q7, PWK_MUL_Q7, "", PWK_OUT_CLAMP)
PWK_ASM("emb_mve_pw_k8_sat", PWK_LD8, "s16", PWK_PRE_Q7, PWK_MUL_Q7, "", PWK_OUT_SAT)
PWK_ASM("emb_mve_pw_k8_satfix", PWK_LD8, "s16", "", PWK_MUL, PWK_FIX, PWK_OUT_SAT)
PWK_ASM("emb_mve_pw_k16", PWK_LD16, "s8", "", PWK_LSH_MUL, PWK_FIX, PWK_OUT_CLAMP)
PWK_ASM("emb_mve_pw_k16_fast", PWK_LD16, "s8", PWK_PRE_Q7, PWK_MUL_Q7, "", PWK_OUT_CLAMP)
PWK_ASM("emb_mve_pw_k16_sat", PWK_LD16, "s8", PWK_PRE_Q7, PWK_MUL_Q7, "", PWK_OUT_SAT)
PWK_ASM("emb_mve_pw_k16_satfix", PWK_LD16, "s8", "", PWK_MUL, PWK_FIX, PWK_OUT_SAT)
#undef PWK_OUT_SAT
#undef PWK_OUT_CLAMP
#undef PWK_PRE_Q7
#undef PWK_LD16
#undef PWK_LD8
#undef PWK_ASM
#undef PWK_MUL_Q7
#undef PWK_MUL
#undef PWK_LSH_MUL
#undef PWK_FIX
#undef PWK_DOT

/* conv_pointwise's dense run for C = 8 / 16 through emb_mve_pw_k* (weights of the block:
 * 4 rows of C bytes, packing.py's tail layout for C = 8, one 64-byte chunk for C = 16). */
static void pw_k_run(const emb_conv_params *p, const int8_t *in, const int8_t *wb,
                     int32x4_t base, const emb_mve_rq *rq, int8_t *out, int32_t n_pix)
{
    const int32_t c = p->in_c;
    pwk_ctx k;
    k.x = in;
    k.o = out;
    k.o_step = p->out_c;
    k.pairs = n_pix >> 1;
    k.zp = p->out_zp;
    for (int j = 0; j < 4; j++) {
        if (c == 8)
            vstrhq_s16((int16_t *)k.w[j], vldrbq_s16(wb + 8 * j));
        else
            vstrbq_s8(k.w[j], vldrbq_s8(wb + 16 * j));
    }
    vstrwq_s32(k.base, base);
    vstrwq_s32(k.left, rq->left);
    vstrwq_s32(k.mult, rq->mult);
    vstrwq_s32(k.right, rq->right);
    vstrwq_s32(k.lo, vdupq_n_s32(p->act_min));
    vstrwq_s32(k.hi, vdupq_n_s32(p->act_max));
    static void (*const runs[2][4])(pwk_ctx *) = {
        {emb_mve_pw_k8, emb_mve_pw_k8_fast, emb_mve_pw_k8_sat, emb_mve_pw_k8_satfix},
        {emb_mve_pw_k16, emb_mve_pw_k16_fast, emb_mve_pw_k16_sat, emb_mve_pw_k16_satfix}};
    const int nolsh = vmaxvq_s32(0, rq->left) == 0, pos = p->act_min >= p->out_zp;
    const int full = nolsh && p->act_min == -128 && p->act_max == 127;
    void (*run)(pwk_ctx *) = runs[c == 16][full ? (pos ? 2 : 3) : nolsh && pos];
    run(&k);
    if (n_pix & 1) {   /* last pixel: paired with the one before (computed twice) */
        k.x = in + (n_pix - 2) * c;
        k.o = out + (n_pix - 2) * p->out_c;
        k.pairs = 1;
        run(&k);
    }
}

/* Input pixel of a 1x1 conv's output pixel, or NULL where it lies in the padding. */
static const int8_t *pw_src(const emb_conv_params *p, const int8_t *in, int32_t pix)
{
    const int32_t iy = (pix / p->out_w) * p->stride_h - p->pad_top;
    const int32_t ix = (pix % p->out_w) * p->stride_w - p->pad_left;
    if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) return 0;
    return in + (iy * p->in_w + ix) * p->in_c;
}

/* The full blocks of 4 output channels of a dense pointwise conv (n_pix >= 2) through
 * emb_mve_pw_run*: returns the output channels done (out_c rounded down to 4). */
static int32_t pw_dense(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                        const int32_t *bias, const int32_t *mult, const int32_t *shift,
                        int8_t *out)
{
    const int32_t c = p->in_c, n_pix = p->out_h * p->out_w, oc_n = p->out_c & ~3;
    const int32_t zp = p->in_zp, last = (n_pix - 2) * p->out_c;
    static void (*const runs[2][2])(pw_run_ctx *) = {
        {emb_mve_pw_run, emb_mve_pw_run_pos}, {emb_mve_pw_run_lsh, emb_mve_pw_run_lsh_pos}};
    const int pos = p->act_min >= p->out_zp;
    const int sat = p->act_min == -128 && p->act_max == 127 && c >= 16;
    void (*const run_r)(pw_run_ctx *) =
        sat ? (pos ? emb_mve_pw_run_sat : emb_mve_pw_run_satfix) : runs[0][pos];
    void (*const run_l)(pw_run_ctx *) = runs[1][pos];
    pw_run_ctx k;   /* emb_mve_pw_run's context: the fields every block shares set once */
    k.n16 = c >> 4;
    k.tail = c & 15;
    k.c = c;
    k.o_step = p->out_c;
    k.zp = p->out_zp;
    vstrwq_s32(k.lo, vdupq_n_s32(p->act_min));
    vstrwq_s32(k.hi, vdupq_n_s32(p->act_max));
    for (int32_t oc = 0; oc < oc_n; oc += 4, w += 4 * c) {
        int32_t ws[4];
        emb_mve_block_wsum(w, c, ws);
        const int32x4_t sh = vldrwq_s32(shift + oc), left = vmaxq_s32(sh, vdupq_n_s32(0));
        vstrwq_s32(k.base, vsubq_s32(vldrwq_s32(bias + oc), vmulq_n_s32(vldrwq_s32(ws), zp)));
        vstrwq_s32(k.mult, vldrwq_s32(mult + oc));
        vstrwq_s32(k.right, vminq_s32(sh, vdupq_n_s32(0)));
        vstrwq_s32(k.left, left);
        k.x = in;
        k.w = w;
        k.o = out + oc;
        k.pairs = n_pix >> 1;
        void (*const run)(pw_run_ctx *) = vmaxvq_s32(0, left) > 0 ? run_l : run_r;
        run(&k);
        if (n_pix & 1) {   /* last pixel: paired with the one before (computed twice) */
            k.x = in + (n_pix - 2) * c;
            k.o = out + last + oc;
            k.pairs = 1;
            run(&k);
        }
    }
    return oc_n;
}

/* Pointwise, weights packed in blocks of 4 output channels (packing.py): per block, the
 * zero point folded into the bias once, then 2 pixels x 4 channels per VMLADAVA pass
 * (dense: pw_dense; C = 8 / 16: pw_k_run). */
static void conv_pointwise(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           int8_t *out)
{
    const int32_t c = p->in_c, n_pix = p->out_h * p->out_w;
    const int dense = p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 &&
                      p->pad_left == 0 && p->in_w == p->out_w && p->in_h == p->out_h;
    int32_t oc0 = 0;
    if (dense && n_pix >= 2 && c != 8 && c != 16)
        oc0 = pw_dense(p, in, w, bias, mult, shift, out);
    for (int32_t oc = oc0; oc < p->out_c; oc += 4) {
        const int32_t m = p->out_c - oc < 4 ? p->out_c - oc : 4;
        const mve_pred16_t pr = vctp32q((uint32_t)m);
        const int8_t *wb = w + oc * c;
        int32_t wsum[4];
        emb_mve_block_wsum(wb, c, wsum);
        const int32x4_t b = vldrwq_z_s32(bias + oc, pr);
        const int32x4_t base = vsubq_s32(b, vmulq_n_s32(emb_mve_vec4(wsum), p->in_zp));
        const emb_mve_rq rq = emb_mve_rq_load(mult + oc, shift + oc, pr);
        int32_t pix = 0;
        if (dense && m == 4 && n_pix >= 2 && (c == 8 || c == 16)) {
            pw_k_run(p, in, wb, base, &rq, out + oc, n_pix);
            pix = n_pix;
        }
        for (; pix < n_pix; pix += 2) {
            const int two = pix + 1 < n_pix;
            const int8_t *x0 = dense ? in + pix * c : pw_src(p, in, pix);
            const int8_t *x1 = !two ? x0 : (dense ? x0 + c : pw_src(p, in, pix + 1));
            int32_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            const int8_t *u = x0 ? x0 : x1, *v = x1 ? x1 : x0;
            if (u) {
                emb_mve_pw_2x4(u, v, wb, c >> 4, acc);
                if (c & 15)
                    emb_mve_pw_tail(u + (c & ~15), v + (c & ~15), wb + 4 * (c & ~15), c & 15, acc);
            }
            const int32x4_t a0 = x0 ? vaddq_s32(base, vldrwq_s32(acc)) : b;
            vstrbq_p_s32(out + pix * p->out_c + oc,
                         emb_mve_requant(a0, rq, p->out_zp, p->act_min, p->act_max), pr);
            if (two) {
                const int32x4_t a1 = x1 ? vaddq_s32(base, vldrwq_s32(acc + 4)) : b;
                vstrbq_p_s32(out + (pix + 1) * p->out_c + oc,
                             emb_mve_requant(a1, rq, p->out_zp, p->act_min, p->act_max), pr);
            }
        }
    }
}

enum { SMALL_K_MAX = 256, SMALL_OC_MAX = 64 };   /* packing.py: MVE_SMALL_K_MAX / _OC_MAX */

/* dst[0..n) = src[0..n) / = v, 16 bytes per predicated vector. */
static inline void copy_run(int8_t *dst, const int8_t *src, int32_t n)
{
    for (int32_t i = 0; i < n; i += 16) {
        const mve_pred16_t q = vctp8q((uint32_t)(n - i));
        vstrbq_p_s8(dst + i, vldrbq_z_s8(src + i, q), q);
    }
}

static inline void fill_run(int8_t *dst, int8_t v, int32_t n)
{
    for (int32_t i = 0; i < n; i += 16)
        vstrbq_p_s8(dst + i, vdupq_n_s8(v), vctp8q((uint32_t)(n - i)));
}

#include "emb_im2col.h"   /* windows as K contiguous bytes: dst_row = k_w * in_c */

/* im2col of output pixel (oy, ox) into dst (rows k_w * C apart): straight row copies
 * inside the image (in_r), emb_im2col at the borders. */
static inline void im2col_1(const emb_conv_params *p, const emb_inside *in_r, const int8_t *in,
                            int32_t oy, int32_t ox, int8_t *dst)
{
    const int32_t run = p->k_w * p->in_c;
    if (ox >= in_r->ox_a && ox < in_r->ox_b && oy >= in_r->oy_a && oy < in_r->oy_b) {
        const int32_t row = p->dil_h * p->in_w * p->in_c;
        const int8_t *src = in + ((oy * p->stride_h - p->pad_top) * p->in_w +
                                  ox * p->stride_w - p->pad_left) * p->in_c;
        if (run <= 16) {   /* one predicated vector a row */
            const mve_pred16_t q = vctp8q((uint32_t)run);
            for (int32_t kh = 0; kh < p->k_h; kh++, dst += run, src += row)
                vstrbq_p_s8(dst, vldrbq_z_s8(src, q), q);
            return;
        }
        for (int32_t kh = 0; kh < p->k_h; kh++, dst += run, src += row) copy_run(dst, src, run);
        return;
    }
    emb_im2col(p, in, oy, ox, dst, run);
}

/* groups 1 with a small window (K = KH * KW * C <= SMALL_K_MAX; the first conv):
 * 2 pixels' windows copied to the stack, then dot products over K, weights packed like
 * pointwise (blocks of 4 output channels, packing.py). K <= 16 (a one-channel image): each
 * window is one predicated vector, one VMLADAV per pixel and channel; else emb_mve_pw_2x4. */
static void conv_small(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                       const int32_t *bias, const int32_t *mult, const int32_t *shift,
                       int8_t *out)
{
    const int32_t k = p->k_h * p->k_w * p->in_c;
    const int32_t n_pix = p->out_h * p->out_w, oc_n = p->out_c;
    const emb_inside in_r = emb_inside_range(p, 0);
    const mve_pred16_t pk = vctp8q((uint32_t)k);
    const int pos = p->act_min >= p->out_zp;
#define SMALL_RQ(a) (pos ? emb_mve_requant_pos(a, rq, p->out_zp, p->act_min, p->act_max)     \
                         : emb_mve_requant(a, rq, p->out_zp, p->act_min, p->act_max))
    int8_t buf[2][SMALL_K_MAX] __attribute__((aligned(16)));
    int32_t base[SMALL_OC_MAX + 3] __attribute__((aligned(16)));
    memset(buf, 0, sizeof buf);
    for (int32_t oc = 0; oc < oc_n; oc += 4) {   /* bias - zp * sum(w) per channel */
        int32_t ws[4];
        emb_mve_block_wsum(w + oc * k, k, ws);
        for (int j = 0; j < 4; j++)
            base[oc + j] = oc + j < oc_n ? bias[oc + j] - p->in_zp * ws[j] : 0;
    }
    int32_t oy = 0, ox = 0;
    for (int32_t pix = 0; pix < n_pix; pix += 2) {
        const int two = pix + 1 < n_pix;
        im2col_1(p, &in_r, in, oy, ox, buf[0]);
        if (++ox == p->out_w) ox = 0, oy++;
        if (two) {
            im2col_1(p, &in_r, in, oy, ox, buf[1]);
            if (++ox == p->out_w) ox = 0, oy++;
        }
        const int8x16_t x0 = vldrbq_z_s8(buf[0], pk), x1 = vldrbq_z_s8(buf[1], pk);
        for (int32_t oc = 0; oc < oc_n; oc += 4) {
            const int32_t m = oc_n - oc < 4 ? oc_n - oc : 4;
            const mve_pred16_t pr = vctp32q((uint32_t)m);
            const emb_mve_rq rq = emb_mve_rq_load(mult + oc, shift + oc, pr);
            const int8_t *wb = w + oc * k;
            int32_t acc[8] __attribute__((aligned(16)));
            if (k <= 16) {   /* 4 weight rows of k bytes (packing.py's tail layout) */
                const int8x16_t w0 = vldrbq_z_s8(wb, pk), w1 = vldrbq_z_s8(wb + k, pk);
                const int8x16_t w2 = vldrbq_z_s8(wb + 2 * k, pk), w3 = vldrbq_z_s8(wb + 3 * k, pk);
                const int32x4_t a = {vmladavq_s8(x0, w0), vmladavq_s8(x0, w1),
                                     vmladavq_s8(x0, w2), vmladavq_s8(x0, w3)};
                const int32x4_t c = {vmladavq_s8(x1, w0), vmladavq_s8(x1, w1),
                                     vmladavq_s8(x1, w2), vmladavq_s8(x1, w3)};
                vstrwq_s32(acc, a);
                vstrwq_s32(acc + 4, c);
            } else {
                vstrwq_s32(acc, vdupq_n_s32(0));
                vstrwq_s32(acc + 4, vdupq_n_s32(0));
                emb_mve_pw_2x4(buf[0], buf[1], wb, k >> 4, acc);
                if (k & 15)
                    emb_mve_pw_tail(buf[0] + (k & ~15), buf[1] + (k & ~15), wb + 4 * (k & ~15),
                                    k & 15, acc);
            }
            const int32x4_t b = vldrwq_s32(base + oc);
            const int32x4_t a0 = vaddq_s32(b, vldrwq_s32(acc));
            const int32x4_t a1 = vaddq_s32(b, vldrwq_s32(acc + 4));
            vstrbq_p_s32(out + pix * oc_n + oc, SMALL_RQ(a0), pr);
            if (two) vstrbq_p_s32(out + (pix + 1) * oc_n + oc, SMALL_RQ(a1), pr);
        }
    }
}
#undef SMALL_RQ

/* A run of pixel pairs of conv_rows_k (R = 4) for one block of 4 output channels (interior
 * pixels, k_h <= 3): everything the loop reads, at fixed byte offsets. */
typedef struct {
    const int8_t *x;              /* 0: row 0 of the first pixel's window */
    int32_t rk1, rk2, step;       /* 4, 8, 12: rows 1 and 2 (bytes from row 0), pixel step */
    int8_t *o;                    /* 16: output of the first pixel */
    int32_t o_step, pairs, zp;    /* 20, 24, 28: out_c, pixel pairs, out_zp */
    int8_t w[4][16];              /* 32: the 4 channels' packed weights */
    int32_t base[4], mult[4];     /* 96, 112: bias - in_zp * sum(w); VQRDMULH multipliers */
    int32_t left[4], right[4];    /* 128, 144: VSHL (>= 0) and VRSHL (<= 0) shifts */
    int32_t lo[4], hi[4];         /* 160, 176: act_min, act_max */
    const int8_t *wp;             /* 192: the block's packed weights (rows16) */
} rows4_ctx;
_Static_assert(offsetof(rows4_ctx, w) == 32 && offsetof(rows4_ctx, hi) == 176 &&
               offsetof(rows4_ctx, wp) == 192, "emb_mve_rows4_run offsets");

/* 2 pixels a pass: each window 3 word loads moved into a vector (row kh at lanes 4 kh..,
 * row 0 again in the unused lanes 12..15, whose weights are 0), 4 VMLADAV per pixel,
 * requantized together (constants loaded once per pair); _fast: act_min >= out_zp and no
 * left shift in the block (no rounding fix-up, no VSHL); _sat: _fast with the clamp the whole
 * int8 range. */
void emb_mve_rows4_run(rows4_ctx *k);
void emb_mve_rows4_run_fast(rows4_ctx *k);
void emb_mve_rows4_run_sat(rows4_ctx *k);
#define ROWS4_FIX                                                                           \
    "    vand q5, q6, q4\n    vshr.s32 q5, q5, #31\n    vqadd.s32 q6, q6, q5\n"              \
    "    vand q5, q7, q4\n    vshr.s32 q5, q5, #31\n    vqadd.s32 q7, q7, q5\n"
#define ROWS4_ASM(name, LSH, FIX, OUT)                                                            \
    __asm__(                                                                                \
    EMB_ASM_BEGIN(name)                                                                     \
    "    push {r4-r11, lr}\n"                                                               \
    "    vpush {d8-d15}\n"                                                                  \
    "    mov r12, r0\n"                                                                     \
    "    ldr r8, [r12, #0]\n"                                                               \
    "    ldrd r9, r10, [r12, #4]\n"                                                         \
    "    ldr r7, [r12, #16]\n"                                                              \
    "    ldr r11, [r12, #20]\n"                                                             \
    "    ldr lr, [r12, #24]\n"                                                              \
    "    vldrw.32 q0, [r12, #32]\n"                                                         \
    "    vldrw.32 q1, [r12, #48]\n"                                                         \
    "    vldrw.32 q2, [r12, #64]\n"                                                         \
    "    vldrw.32 q3, [r12, #80]\n"                                                         \
    "1:  ldr r6, [r12, #12]\n"                                                              \
    "    ldr r0, [r8]\n"                                                                    \
    "    ldr r1, [r8, r9]\n"                                                                \
    "    ldr r2, [r8, r10]\n"                                                               \
    "    add r8, r8, r6\n"                                                                  \
    "    ldr r3, [r8]\n"                                                                    \
    "    ldr r4, [r8, r9]\n"                                                                \
    "    ldr r5, [r8, r10]\n"                                                               \
    "    add r8, r8, r6\n"                                                                  \
    "    vmov q4[2], q4[0], r0, r2\n"                                                       \
    "    vmov q4[3], q4[1], r1, r0\n"                                                       \
    "    vmov q5[2], q5[0], r3, r5\n"                                                       \
    "    vmov q5[3], q5[1], r4, r3\n"                                                       \
    "    vmladav.s8 r0, q4, q0\n"                                                           \
    "    vmladav.s8 r2, q4, q1\n"                                                           \
    "    vmladav.s8 r4, q4, q2\n"                                                           \
    "    vmladav.s8 r6, q4, q3\n"                                                           \
    "    vmov q6[2], q6[0], r0, r4\n"                                                       \
    "    vmov q6[3], q6[1], r2, r6\n"                                                       \
    "    vmladav.s8 r0, q5, q0\n"                                                           \
    "    vmladav.s8 r2, q5, q1\n"                                                           \
    "    vmladav.s8 r4, q5, q2\n"                                                           \
    "    vmladav.s8 r6, q5, q3\n"                                                           \
    "    vmov q7[2], q7[0], r0, r4\n"                                                       \
    "    vmov q7[3], q7[1], r2, r6\n"                                                       \
    "    vldrw.32 q4, [r12, #96]\n"                                                         \
    "    vadd.i32 q6, q6, q4\n"                                                             \
    "    vadd.i32 q7, q7, q4\n"                                                             \
    LSH                                                                                     \
    "    vldrw.32 q4, [r12, #112]\n"                                                        \
    "    vqrdmulh.s32 q6, q6, q4\n"                                                         \
    "    vqrdmulh.s32 q7, q7, q4\n"                                                         \
    "    vldrw.32 q4, [r12, #144]\n"                                                        \
    FIX                                                                                     \
    "    vrshl.s32 q6, q6, q4\n"                                                            \
    "    vrshl.s32 q7, q7, q4\n"                                                            \
    OUT                                                                                     \
    "    subs lr, lr, #1\n"                                                                 \
    "    bne 1b\n"                                                                          \
    "    vpop {d8-d15}\n"                                                                   \
    "    pop {r4-r11, pc}\n"                                                                \
    EMB_ASM_END(name));
#define ROWS4_LSH                                                                           \
    "    vldrw.32 q4, [r12, #128]\n    vshl.s32 q6, q6, q4\n    vshl.s32 q7, q7, q4\n"
/* out_zp added, clamped, stored; or (act_min -128, act_max 127) narrowed with saturation as
 * in emb_mve_pw_k*_sat */
#define ROWS4_OUT_CLAMP                                                                     \
    "    ldr r0, [r12, #28]\n    vadd.i32 q6, q6, r0\n    vadd.i32 q7, q7, r0\n"             \
    "    vldrw.32 q4, [r12, #160]\n    vmax.s32 q6, q6, q4\n    vmax.s32 q7, q7, q4\n"      \
    "    vldrw.32 q4, [r12, #176]\n    vmin.s32 q6, q6, q4\n    vmin.s32 q7, q7, q4\n"      \
    "    vstrb.32 q6, [r7]\n    add r7, r7, r11\n"                                         \
    "    vstrb.32 q7, [r7]\n    add r7, r7, r11\n"
#define ROWS4_OUT_SAT                                                                       \
    "    ldr r0, [r12, #28]\n    vqmovnb.s32 q4, q6\n    vqmovnt.s32 q4, q7\n"              \
    "    vqadd.s16 q4, q4, r0\n    vqmovnb.s16 q6, q4\n"                                    \
    "    vstrb.32 q6, [r7]\n    vshr.u32 q6, q6, #16\n    add r7, r7, r11\n"                 \
    "    vstrb.32 q6, [r7]\n    add r7, r7, r11\n"
ROWS4_ASM("emb_mve_rows4_run", ROWS4_LSH, ROWS4_FIX, ROWS4_OUT_CLAMP)
ROWS4_ASM("emb_mve_rows4_run_fast", "", "", ROWS4_OUT_CLAMP)
ROWS4_ASM("emb_mve_rows4_run_sat", "", "", ROWS4_OUT_SAT)
#undef ROWS4_OUT_SAT
#undef ROWS4_OUT_CLAMP
#undef ROWS4_LSH
#undef ROWS4_ASM
#undef ROWS4_FIX

/* emb_mve_rows16_run[_fast]: kernel rows of 5..16 bytes (k_h <= 3, e.g. an RGB image's 3x3
 * first conv): a window is 3 vectors (one 16-byte load per kernel row; bytes past the row
 * meet zero weights, missing rows repeat row 0), 12 VMLADAV(A) per pixel with the block's
 * 12 weight vectors (loaded once per pair, from wp: row kh, channel j at 64 kh + 16 j). */
void emb_mve_rows16_run(rows4_ctx *k);
void emb_mve_rows16_run_fast(rows4_ctx *k);
#define R16_ROW(op, qa, qb, o0, o1, o2, o3)                                                 \
    "    vldrw.32 q6, [r11, #" o0 "]\n    " op " r0, " qa ", q6\n    " op " r8, " qb ", q6\n"  \
    "    vldrw.32 q6, [r11, #" o1 "]\n    " op " r2, " qa ", q6\n    " op " r10, " qb ", q6\n" \
    "    vldrw.32 q6, [r11, #" o2 "]\n    " op " r4, " qa ", q6\n    " op " r12, " qb ", q6\n" \
    "    vldrw.32 q6, [r11, #" o3 "]\n    " op " r6, " qa ", q6\n    " op " lr, " qb ", q6\n"
#define R16_FIX                                                                             \
    "    vand q3, q0, q2\n    vshr.s32 q3, q3, #31\n    vqadd.s32 q0, q0, q3\n"              \
    "    vand q3, q1, q2\n    vshr.s32 q3, q3, #31\n    vqadd.s32 q1, q1, q3\n"
#define R16_ASM(name, LSH, FIX)                                                                \
    __asm__(                                                                                \
    EMB_ASM_BEGIN(name)                                                                     \
    "    push {r4-r11, lr}\n"                                                               \
    "    vpush {d8-d15}\n"                                                                  \
    "    mov r9, r0\n"                                                                      \
    "    ldr r11, [r9, #192]\n"                                                             \
    "1:  ldr r1, [r9, #0]\n"                                                                \
    "    ldrd r3, r5, [r9, #4]\n"                                                           \
    "    add r3, r1, r3\n"                                                                  \
    "    add r5, r1, r5\n"                                                                  \
    "    ldr r7, [r9, #12]\n"                                                               \
    "    vldrb.8 q0, [r1]\n"                                                                \
    "    vldrb.8 q1, [r3]\n"                                                                \
    "    vldrb.8 q2, [r5]\n"                                                                \
    "    add r1, r1, r7\n"                                                                  \
    "    add r3, r3, r7\n"                                                                  \
    "    add r5, r5, r7\n"                                                                  \
    "    vldrb.8 q3, [r1]\n"                                                                \
    "    vldrb.8 q4, [r3]\n"                                                                \
    "    vldrb.8 q5, [r5]\n"                                                                \
    "    add r1, r1, r7\n"                                                                  \
    "    str r1, [r9, #0]\n"                                                                \
    R16_ROW("vmladav.s8", "q0", "q3", "0", "16", "32", "48")                                \
    R16_ROW("vmladava.s8", "q1", "q4", "64", "80", "96", "112")                             \
    R16_ROW("vmladava.s8", "q2", "q5", "128", "144", "160", "176")                          \
    "    vmov q0[2], q0[0], r0, r4\n"                                                       \
    "    vmov q0[3], q0[1], r2, r6\n"                                                       \
    "    vmov q1[2], q1[0], r8, r12\n"                                                      \
    "    vmov q1[3], q1[1], r10, lr\n"                                                      \
    "    vldrw.32 q2, [r9, #96]\n"                                                          \
    "    vadd.i32 q0, q0, q2\n"                                                             \
    "    vadd.i32 q1, q1, q2\n"                                                             \
    LSH                                                                                     \
    "    vldrw.32 q2, [r9, #112]\n"                                                         \
    "    vqrdmulh.s32 q0, q0, q2\n"                                                         \
    "    vqrdmulh.s32 q1, q1, q2\n"                                                         \
    "    vldrw.32 q2, [r9, #144]\n"                                                         \
    FIX                                                                                     \
    "    vrshl.s32 q0, q0, q2\n"                                                            \
    "    vrshl.s32 q1, q1, q2\n"                                                            \
    "    ldr r0, [r9, #28]\n"                                                               \
    "    vadd.i32 q0, q0, r0\n"                                                             \
    "    vadd.i32 q1, q1, r0\n"                                                             \
    "    vldrw.32 q2, [r9, #160]\n"                                                         \
    "    vmax.s32 q0, q0, q2\n"                                                             \
    "    vmax.s32 q1, q1, q2\n"                                                             \
    "    vldrw.32 q2, [r9, #176]\n"                                                         \
    "    vmin.s32 q0, q0, q2\n"                                                             \
    "    vmin.s32 q1, q1, q2\n"                                                             \
    "    ldrd r1, r3, [r9, #16]\n"                                                          \
    "    vstrb.32 q0, [r1]\n"                                                               \
    "    add r1, r1, r3\n"                                                                  \
    "    vstrb.32 q1, [r1]\n"                                                               \
    "    add r1, r1, r3\n"                                                                  \
    "    str r1, [r9, #16]\n"                                                               \
    "    ldr r7, [r9, #24]\n"                                                               \
    "    subs r7, r7, #1\n"                                                                 \
    "    str r7, [r9, #24]\n"                                                               \
    "    bne 1b\n"                                                                          \
    "    vpop {d8-d15}\n"                                                                   \
    "    pop {r4-r11, pc}\n"                                                                \
    EMB_ASM_END(name));
#define R16_LSH                                                                             \
    "    vldrw.32 q2, [r9, #128]\n    vshl.s32 q0, q0, q2\n    vshl.s32 q1, q1, q2\n"
R16_ASM("emb_mve_rows16_run", R16_LSH, R16_FIX)
R16_ASM("emb_mve_rows16_run_fast", "", "")
#undef R16_LSH
#undef R16_ASM
#undef R16_FIX
#undef R16_ROW

/* groups 1, kernel rows of at most R = 4 or 16 bytes (k_w * C <= R, k_h <= 3, dil_w 1: the
 * first conv of a one-channel image (R 4) or an RGB one (R 16)): weights packed per block
 * of 4 output channels as nv = 1 (R 4) or 3 (R 16) vectors of 16 bytes per channel, byte
 * R kh + j of the window (kernel row kh, byte j of it) at vector (R kh + j) / 16, lane
 * (R kh + j) % 16, zero elsewhere (packing.py, mve_rows). Interior pixel pairs by
 * emb_mve_rows{4,16}_run (word / vector loads of the kernel rows; bytes past a row meet
 * zero weights), the rest (border: the zero point outside the input) here. */
static inline __attribute__((always_inline)) void conv_rows_k(
    const emb_conv_params *p, const int8_t *in, const int8_t *w,
    const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out, int32_t r)
{
    const int32_t c = p->in_c, run = p->k_w * c, row_b = p->dil_h * p->in_w * c;
    const int32_t zp = p->in_zp, out_w = p->out_w, oc_n = p->out_c, nv = r == 4 ? 1 : 3;
    const emb_inside in_r = emb_inside_range(p, 0);
    int32_t xb = in_r.ox_b;   /* and the r bytes of each row inside the input row */
    while (xb > in_r.ox_a && ((xb - 1) * p->stride_w - p->pad_left) * c + r > p->in_w * c) xb--;
    const int pos = p->act_min >= p->out_zp;
    const mve_pred16_t pk = vctp8q((uint32_t)run);
    static void (*const runs[2][2])(rows4_ctx *) = {
        {emb_mve_rows4_run, emb_mve_rows4_run_fast}, {emb_mve_rows16_run, emb_mve_rows16_run_fast}};
    rows4_ctx k;
    k.rk1 = p->k_h > 1 ? row_b : 0;
    k.rk2 = p->k_h > 2 ? 2 * row_b : 0;
    k.step = p->stride_w * c;
    k.o_step = oc_n;
    k.zp = p->out_zp;
    vstrwq_s32(k.lo, vdupq_n_s32(p->act_min));
    vstrwq_s32(k.hi, vdupq_n_s32(p->act_max));
    for (int32_t oc = 0; oc < oc_n; oc += 4) {
        const int32_t m = oc_n - oc < 4 ? oc_n - oc : 4;
        const mve_pred16_t pr = vctp32q((uint32_t)m);
        const int8_t *wb = w + oc * 16 * nv;
        int32_t wsum[4] = {0, 0, 0, 0};
        for (int32_t t = 0; t < nv; t++)
            for (int j = 0; j < 4; j++) wsum[j] = vaddvaq_s8(wsum[j], vldrbq_s8(wb + 64 * t + 16 * j));
        const int32x4_t base = vsubq_s32(vldrwq_z_s32(bias + oc, pr),
                                         vmulq_n_s32(vldrwq_s32(wsum), zp));
        const emb_mve_rq rq = emb_mve_rq_load(mult + oc, shift + oc, pr);
        const int fast = pos && vmaxvq_s32(0, rq.left) == 0;
        void (*const run2)(rows4_ctx *) =
            r == 4 && fast && p->act_min == -128 && p->act_max == 127 ? emb_mve_rows4_run_sat
                                                                        : runs[r == 16][fast];
        if (r == 4) memcpy(k.w, wb, sizeof k.w);
        k.wp = wb;
        vstrwq_s32(k.base, base);
        vstrwq_s32(k.mult, rq.mult);
        vstrwq_s32(k.left, rq.left);
        vstrwq_s32(k.right, rq.right);
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t iy = oy * p->stride_h - p->pad_top;
            const int row_in = oy >= in_r.oy_a && oy < in_r.oy_b;
            int8_t *o_row = out + oy * out_w * oc_n + oc;
            int32_t a = 0, b = 0;   /* pixels [a, b) in pairs by run2 */
            if (row_in && m == 4 && xb - in_r.ox_a >= 2) {
                a = in_r.ox_a;
                b = xb;
                k.x = in + (iy * p->in_w + a * p->stride_w - p->pad_left) * c;
                k.o = o_row + a * oc_n;
                k.pairs = (b - a) >> 1;
                run2(&k);
                if ((b - a) & 1) {   /* the last pixel paired with the one before (twice) */
                    k.x = in + (iy * p->in_w + (b - 2) * p->stride_w - p->pad_left) * c;
                    k.o = o_row + (b - 2) * oc_n;
                    k.pairs = 1;
                    run2(&k);
                }
            }
            for (int32_t ox = 0; ox < out_w; ox++) {
                if (ox == a && b > a) ox = b;
                if (ox == out_w) break;
                const int32_t ix = ox * p->stride_w - p->pad_left;
                /* window row kh: the bytes of its valid columns, the zero point in the
                 * others (a predicated load reads only valid bytes) */
                const int32_t j0 = (ix < 0 ? -ix : 0) * c;
                const int32_t j1 = (p->in_w - ix < p->k_w ? p->in_w - ix : p->k_w) * c;
                const mve_pred16_t valid = (mve_pred16_t)(vctp8q((uint32_t)(j1 > 0 ? j1 : 0)) &
                                                          ~vctp8q((uint32_t)j0));
                const int8x16_t zp8 = vdupq_n_s8((int8_t)zp);
                int8_t v[48] __attribute__((aligned(16)));
                for (int32_t t = 0; t < nv; t++) vstrbq_s8(v + 16 * t, vdupq_n_s8(0));
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int32_t y = iy + kh * p->dil_h;
                    const mve_pred16_t q = (uint32_t)y < (uint32_t)p->in_h ? valid : 0;
                    const int8_t *src = (const int8_t *)((uintptr_t)in +
                                                         (uintptr_t)((y * p->in_w + ix) * c));
                    vstrbq_p_s8(v + r * kh, vpselq_s8(vldrbq_z_s8(src, q), zp8, q), pk);
                }
                int32_t acc[4] __attribute__((aligned(16))) = {0, 0, 0, 0};
                for (int32_t t = 0; t < nv; t++) {
                    const int8x16_t x = vldrbq_s8(v + 16 * t);
                    for (int j = 0; j < 4; j++)
                        acc[j] = vmladavaq_s8(acc[j], x, vldrbq_s8(wb + 64 * t + 16 * j));
                }
                const int32x4_t y = vaddq_s32(base, vldrwq_s32(acc));
                vstrbq_p_s32(o_row + ox * oc_n,
                             pos ? emb_mve_requant_pos(y, rq, p->out_zp, p->act_min, p->act_max)
                                 : emb_mve_requant(y, rq, p->out_zp, p->act_min, p->act_max),
                             pr);
            }
        }
    }
}

static void conv_rows4(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                       const int32_t *bias, const int32_t *mult, const int32_t *shift,
                       int8_t *out)
{
    conv_rows_k(p, in, w, bias, mult, shift, out, 4);
}

static void conv_rows16(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                        const int32_t *bias, const int32_t *mult, const int32_t *shift,
                        int8_t *out)
{
    conv_rows_k(p, in, w, bias, mult, shift, out, 16);
}

static void conv_rows(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                      const int32_t *bias, const int32_t *mult, const int32_t *shift,
                      int8_t *out)
{
    const int32_t c = p->in_c, w_oc = p->k_h * p->k_w * c, w_row = p->k_w * c;
    for (int32_t oc = 0; oc < p->out_c; oc += 4) {
        const int32_t m = p->out_c - oc < 4 ? p->out_c - oc : 4;
        const mve_pred16_t pr = vctp32q((uint32_t)m);
        const int32x4_t b = vldrwq_z_s32(bias + oc, pr);
        const emb_mve_rq rq = emb_mve_rq_load(mult + oc, shift + oc, pr);
        const int8_t *wb = w + oc * w_oc;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            int32_t kh0, kh1;
            emb_window(oy, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h, &kh0, &kh1);
            const int32_t iy = oy * p->stride_h - p->pad_top + kh0 * p->dil_h;
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                int32_t kw0, kw1;
                emb_window(ox, p->stride_w, p->pad_left, 1, p->k_w, p->in_w, &kw0, &kw1);
                const int32_t ix = ox * p->stride_w - p->pad_left + kw0;
                int32_t acc[4] = {0, 0, 0, 0}, wsum[4] = {0, 0, 0, 0};
                for (int32_t kh = kh0; kw1 > kw0 && kh < kh1; kh++)
                    emb_mve_dot4(in + ((iy + (kh - kh0) * p->dil_h) * p->in_w + ix) * c,
                                 wb + kh * w_row + kw0 * c, w_oc, (kw1 - kw0) * c, m, acc, wsum);
                const int32x4_t a = vsubq_s32(vaddq_s32(b, emb_mve_vec4(acc)),
                                              vmulq_n_s32(emb_mve_vec4(wsum), p->in_zp));
                vstrbq_p_s32(out + (oy * p->out_w + ox) * p->out_c + oc,
                             emb_mve_requant(a, rq, p->out_zp, p->act_min, p->act_max), pr);
            }
        }
    }
}

/* First output index whose window starts inside the input, and one past the last whose
 * window ends inside it (the interior, where every tap is valid). */
static void interior(int32_t out_n, int32_t stride, int32_t pad, int32_t dil, int32_t k,
                     int32_t in_n, int32_t *lo, int32_t *hi)
{
    int32_t a = (pad + stride - 1) / stride, b = out_n;
    while (b > a && (b - 1) * stride - pad + (k - 1) * dil >= in_n) b--;
    *lo = a < out_n ? a : out_n;
    *hi = b > *lo ? b : *lo;
}

enum { DW8_MAX_TAPS = 25 };

/* One block of 8 channels: int16 lanes, VMULLB / VMULLT give the even / odd channels'
 * int32 products; weights widened once per block. Interior pixels fold the zero point into
 * the bias (zp * sum(w)), border pixels subtract it from x over their valid taps. */
static void dw8_block(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                      const int32_t *bias, const int32_t *mult, const int32_t *shift,
                      int8_t *out, int32_t ch, const int32_t rng[4])
{
    const int32_t c = p->in_c, zp = p->in_zp, kh_n = p->k_h, kw_n = p->k_w;
    const int32_t x_row = p->dil_h * p->in_w * c, x_col = p->dil_w * c;
    int16_t wv[DW8_MAX_TAPS][8];
    int32_t ws[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int32_t t = 0; t < kh_n * kw_n; t++) {
        vstrhq_s16(wv[t], vldrbq_s16(w + t * c + ch));
        for (int j = 0; j < 8; j++) ws[j] += wv[t][j];
    }
    const int32x4x2_t b = vld2q_s32(bias + ch), m = vld2q_s32(mult + ch);
    const int32x4x2_t sh = vld2q_s32(shift + ch), wsum = vld2q_s32(ws);
    const emb_mve_rq rb = emb_mve_rq_vec(m.val[0], sh.val[0]);
    const emb_mve_rq rt = emb_mve_rq_vec(m.val[1], sh.val[1]);
    const int32x4_t base_b = vsubq_s32(b.val[0], vmulq_n_s32(wsum.val[0], zp));
    const int32x4_t base_t = vsubq_s32(b.val[1], vmulq_n_s32(wsum.val[1], zp));
    const int32_t out_w = p->out_w, x_step = p->stride_w * c;
    const int32_t ox_lo = rng[0], ox_hi = rng[1], out_zp = p->out_zp;
    const int32_t act_min = p->act_min, act_max = p->act_max;
    const int pos = act_min >= out_zp;
#define DW8_RQ(a, r) (pos ? emb_mve_requant_pos(a, r, out_zp, act_min, act_max)             \
                          : emb_mve_requant(a, r, out_zp, act_min, act_max))
    for (int32_t oy = 0; oy < p->out_h; oy++) {
        int32_t kh0, kh1;
        emb_window(oy, p->stride_h, p->pad_top, p->dil_h, kh_n, p->in_h, &kh0, &kh1);
        const int32_t iy = oy * p->stride_h - p->pad_top + kh0 * p->dil_h;
        const int row_in = oy >= rng[2] && oy < rng[3];
        int8_t *o = out + oy * out_w * c + ch;
        const int8_t *x = row_in ? in + (iy * p->in_w + ox_lo * p->stride_w - p->pad_left) * c + ch
                                 : in;
        for (int32_t ox = 0; ox < out_w; ox++, o += c) {
            int32x4_t ab, at;
            if (row_in && ox >= ox_lo && ox < ox_hi) {   /* x: this pixel's window */
                ab = base_b;
                at = base_t;
                for (int32_t kh = 0; kh < kh_n; kh++)
                    for (int32_t kw = 0; kw < kw_n; kw++) {
                        const int16x8_t xv = vldrbq_s16(x + kh * x_row + kw * x_col);
                        const int16x8_t wt = vldrhq_s16(wv[kh * kw_n + kw]);
                        ab = vaddq_s32(ab, vmullbq_int_s16(xv, wt));
                        at = vaddq_s32(at, vmulltq_int_s16(xv, wt));
                    }
                x += x_step;
            } else {
                int32_t kw0, kw1;
                emb_window(ox, p->stride_w, p->pad_left, p->dil_w, kw_n, p->in_w, &kw0, &kw1);
                const int32_t ix = ox * p->stride_w - p->pad_left + kw0 * p->dil_w;
                ab = b.val[0];
                at = b.val[1];
                for (int32_t kh = 0; kw1 > kw0 && kh < kh1 - kh0; kh++) {
                    const int8_t *xb = in + ((iy + kh * p->dil_h) * p->in_w + ix) * c + ch;
                    for (int32_t kw = kw0; kw < kw1; kw++, xb += x_col) {
                        const int16x8_t xv = vsubq_n_s16(vldrbq_s16(xb), (int16_t)zp);
                        const int16x8_t wt = vldrhq_s16(wv[(kh0 + kh) * kw_n + kw]);
                        ab = vaddq_s32(ab, vmullbq_int_s16(xv, wt));
                        at = vaddq_s32(at, vmulltq_int_s16(xv, wt));
                    }
                }
            }
            const int32x4_t yb = DW8_RQ(ab, rb), yt = DW8_RQ(at, rt);
            vstrbq_s16(o, vmovntq_s32(vmovnbq_s32(vdupq_n_s16(0), yb), yt));
        }
    }
}
#undef DW8_RQ

/* Depthwise 3x3, dilation 1, stride_w 1 or 2, one block of 8 channels: the block's input
 * rows (with their padding: the input zero point) are copied into a small buffer of
 * (x, 8 channels) int8 pixels, so every window is an interior one; a hand-written routine
 * then computes 2 neighbouring outputs per pass in int16 lanes (VMULLB / VMULLT into int32
 * even / odd channels): each loaded input column serves the taps of both outputs, each
 * weight vector both, and the requantization constants are loaded once per pair. */
typedef struct {
    const int8_t *x;              /* 0: buffer, top-left of the first output row's first window */
    int32_t brow, x_row, rows;    /* 4, 8, 12: buffer row bytes; per output row; output rows */
    int32_t pairs, odd;           /* 16, 20: out_w / 2, out_w % 2 (a last single output) */
    int8_t *o;                    /* 24: output of the first pixel */
    int32_t o_row, c, zp;         /* 28, 32, 36: output row bytes, C (pixel step), out_zp */
    const int16_t *w;             /* 40: 9 taps x 8 channels, int16 */
    int32_t pad_;                 /* 44 */
    int32_t base[2][4];           /* 48, 64: bias - in_zp * sum(w), even / odd channels */
    int32_t mult[2][4];           /* 80, 96: VQRDMULH multipliers */
    int32_t right[2][4];          /* 112, 128: VRSHL shifts (<= 0) */
    int16_t lo[8], hi[8];         /* 144, 160: act_min, act_max */
    int8_t dummy[8];              /* 176: where a row's odd last pass puts its second output */
} dw3_ctx;
_Static_assert(offsetof(dw3_ctx, base) == 48 && offsetof(dw3_ctx, lo) == 144 &&
               offsetof(dw3_ctx, dummy) == 176, "emb_mve_dw3 offsets");

/* emb_mve_dw3_s{1,2}[_pos|_sat]: stride_w 1 / 2; _pos: act_min >= out_zp (no rounding fix-up
 * of negative values, as emb_mve_requant_pos); _sat: _pos with the clamp the whole int8
 * range (a saturating narrow, not VMAX / VMIN). About 127 instructions per pair of outputs
 * (144 MACs; _sat 123). Left shifts are in the weights and base (dw3_block). */
void emb_mve_dw3_s1(dw3_ctx *k);
void emb_mve_dw3_s1_pos(dw3_ctx *k);
void emb_mve_dw3_s1_sat(dw3_ctx *k);
void emb_mve_dw3_s2(dw3_ctx *k);
void emb_mve_dw3_s2_pos(dw3_ctx *k);
void emb_mve_dw3_s2_sat(dw3_ctx *k);
/* acc (q0, q1) or (q2, q3) += x * w, even / odd channels; q6 the product */
#define DW3_MAC0(x, w)                                                                      \
    "    vmullb.s16 q6, " x ", " w "\n    vadd.i32 q0, q0, q6\n"                              \
    "    vmullt.s16 q6, " x ", " w "\n    vadd.i32 q1, q1, q6\n"
#define DW3_MAC1(x, w)                                                                      \
    "    vmullb.s16 q6, " x ", " w "\n    vadd.i32 q2, q2, q6\n"                              \
    "    vmullt.s16 q6, " x ", " w "\n    vadd.i32 q3, q3, q6\n"
/* one kernel row (pointer r, weights at byte offset wo): stride 1, columns 0..3 */
#define DW3_ROW_S1(r, w0, w1, w2)                                                           \
    "    vldrw.32 q5, [r3, #" w0 "]\n"                                                      \
    "    vldrb.s16 q4, [" r "], #16\n"                                                       \
    DW3_MAC0("q4", "q5")                                                                     \
    "    vldrb.s16 q7, [" r ", #-8]\n"                                                       \
    DW3_MAC1("q7", "q5")                                                                     \
    "    vldrw.32 q5, [r3, #" w1 "]\n"                                                      \
    DW3_MAC0("q7", "q5")                                                                     \
    "    vldrb.s16 q4, [" r "]\n"                                                            \
    DW3_MAC1("q4", "q5")                                                                     \
    "    vldrw.32 q5, [r3, #" w2 "]\n"                                                      \
    DW3_MAC0("q4", "q5")                                                                     \
    "    vldrb.s16 q7, [" r ", #8]\n"                                                        \
    DW3_MAC1("q7", "q5")
/* stride 2: columns 0..4, output 0 reads 0..2, output 1 reads 2..4 */
#define DW3_ROW_S2(r, w0, w1, w2)                                                           \
    "    vldrw.32 q5, [r3, #" w0 "]\n"                                                      \
    "    vldrb.s16 q4, [" r "], #32\n"                                                       \
    DW3_MAC0("q4", "q5")                                                                     \
    "    vldrb.s16 q7, [" r ", #-16]\n"                                                      \
    DW3_MAC1("q7", "q5")                                                                     \
    "    vldrw.32 q5, [r3, #" w1 "]\n"                                                      \
    "    vldrb.s16 q4, [" r ", #-24]\n"                                                      \
    DW3_MAC0("q4", "q5")                                                                     \
    "    vldrb.s16 q4, [" r ", #-8]\n"                                                       \
    DW3_MAC1("q4", "q5")                                                                     \
    "    vldrw.32 q5, [r3, #" w2 "]\n"                                                      \
    DW3_MAC0("q7", "q5")                                                                     \
    "    vldrb.s16 q4, [" r "]\n"                                                            \
    DW3_MAC1("q4", "q5")
#define DW3_FIX1(a, s)                                                                      \
    "    vand q6, " a ", " s "\n    vshr.s32 q6, q6, #31\n    vqadd.s32 " a ", " a ", q6\n"
#define DW3_FIX DW3_FIX1("q0", "q4") DW3_FIX1("q2", "q4") DW3_FIX1("q1", "q5") DW3_FIX1("q3", "q5")
#define DW3_ASM(name, ROW, FIX, OUT)                                                   \
    __asm__(                                                                                \
    EMB_ASM_BEGIN(name)                                                                     \
    "    push {r4-r11, lr}\n"                                                               \
    "    vpush {d8-d15}\n"                                                                  \
    "    mov r9, r0\n"                                                                      \
    "    ldr r12, [r9, #0]\n"                 /* x of the row */                            \
    "    ldr lr, [r9, #24]\n"                 /* o of the row */                            \
    "    ldr r10, [r9, #12]\n"                /* rows */                                    \
    "    ldr r3, [r9, #40]\n"                 /* w */                                       \
    "    ldrd r8, r7, [r9, #32]\n"            /* c, zp */                                   \
    "1:  ldr r11, [r9, #4]\n"                                                               \
    "    mov r0, r12\n"                                                                     \
    "    add r1, r0, r11\n"                                                                 \
    "    add r2, r1, r11\n"                                                                 \
    "    mov r4, lr\n"                                                                      \
    "    ldrd r6, r11, [r9, #16]\n"           /* pairs, odd */                              \
    "    cmp r6, #0\n"                                                                      \
    "    beq 4f\n"                                                                          \
    "2:  add r5, r4, r8\n"                                                                  \
    "3:  vldrw.32 q0, [r9, #48]\n"                                                          \
    "    vldrw.32 q1, [r9, #64]\n"                                                          \
    "    vmov q2, q0\n"                                                                     \
    "    vmov q3, q1\n"                                                                     \
    ROW("r0", "0", "16", "32") ROW("r1", "48", "64", "80") ROW("r2", "96", "112", "128")    \
    "    vldrw.32 q4, [r9, #80]\n"                                                          \
    "    vldrw.32 q5, [r9, #96]\n"                                                          \
    "    vqrdmulh.s32 q0, q0, q4\n"                                                         \
    "    vqrdmulh.s32 q2, q2, q4\n"                                                         \
    "    vqrdmulh.s32 q1, q1, q5\n"                                                         \
    "    vqrdmulh.s32 q3, q3, q5\n"                                                         \
    "    vldrw.32 q4, [r9, #112]\n"                                                         \
    "    vldrw.32 q5, [r9, #128]\n"                                                         \
    FIX                                                                                     \
    "    vrshl.s32 q0, q0, q4\n"                                                            \
    "    vrshl.s32 q2, q2, q4\n"                                                            \
    "    vrshl.s32 q1, q1, q5\n"                                                            \
    "    vrshl.s32 q3, q3, q5\n"                                                            \
    "    vqmovnb.s32 q6, q0\n"                /* saturated to int16: the clamp below is */  \
    "    vqmovnt.s32 q6, q1\n"                /* within int8, so results are unchanged */   \
    "    vqmovnb.s32 q7, q2\n"                                                              \
    "    vqmovnt.s32 q7, q3\n"                                                              \
    "    vqadd.s16 q6, q6, r7\n"                                                            \
    "    vqadd.s16 q7, q7, r7\n"                                                            \
    OUT                                                                                     \
    "    add r4, r4, r8, lsl #1\n"                                                          \
    "    subs r6, r6, #1\n"                                                                 \
    "    bgt 2b\n"                                                                          \
    "4:  cmp r11, #0\n"                       /* odd: one more pass, output 1 to dummy */  \
    "    beq 5f\n"                                                                          \
    "    movs r11, #0\n"                                                                    \
    "    add r5, r9, #176\n"                                                                \
    "    b 3b\n"                                                                            \
    "5:  ldr r11, [r9, #8]\n"                                                               \
    "    add r12, r12, r11\n"                                                               \
    "    ldr r11, [r9, #28]\n"                                                              \
    "    add lr, lr, r11\n"                                                                 \
    "    subs r10, r10, #1\n"                                                               \
    "    bne 1b\n"                                                                          \
    "    vpop {d8-d15}\n"                                                                   \
    "    pop {r4-r11, pc}\n"                                                                \
    EMB_ASM_END(name));
/* clamped and stored: act_min / act_max, or (act_min -128, act_max 127) int8 saturation;
 * VSTRB.16 stores the low byte of each lane */
#define DW3_OUT_CLAMP                                                                       \
    "    vldrw.32 q4, [r9, #144]\n    vldrw.32 q5, [r9, #160]\n"                             \
    "    vmax.s16 q6, q6, q4\n    vmax.s16 q7, q7, q4\n"                                     \
    "    vmin.s16 q6, q6, q5\n    vmin.s16 q7, q7, q5\n"                                     \
    "    vstrb.16 q7, [r5]\n    vstrb.16 q6, [r4]\n"
#define DW3_OUT_SAT                                                                         \
    "    vqmovnb.s16 q4, q6\n    vqmovnb.s16 q5, q7\n"                                       \
    "    vstrb.16 q5, [r5]\n    vstrb.16 q4, [r4]\n"
DW3_ASM("emb_mve_dw3_s1", DW3_ROW_S1, DW3_FIX, DW3_OUT_CLAMP)
DW3_ASM("emb_mve_dw3_s1_pos", DW3_ROW_S1, "", DW3_OUT_CLAMP)
DW3_ASM("emb_mve_dw3_s1_sat", DW3_ROW_S1, "", DW3_OUT_SAT)
DW3_ASM("emb_mve_dw3_s2", DW3_ROW_S2, DW3_FIX, DW3_OUT_CLAMP)
DW3_ASM("emb_mve_dw3_s2_pos", DW3_ROW_S2, "", DW3_OUT_CLAMP)
DW3_ASM("emb_mve_dw3_s2_sat", DW3_ROW_S2, "", DW3_OUT_SAT)
#undef DW3_OUT_SAT
#undef DW3_OUT_CLAMP
#undef DW3_ASM
#undef DW3_FIX
#undef DW3_FIX1
#undef DW3_ROW_S2
#undef DW3_ROW_S1
#undef DW3_MAC1
#undef DW3_MAC0

enum { DW3_BUF = 2048 };   /* bytes of buffered input rows (8 bytes a pixel) */
enum { DW3_GATHER_MAX_C = 248 };   /* dw3_fill's gather: byte offsets up to c + 7 */

/* The buffer rows of input rows iy0.. (n of them) and columns ix0.. (w pixels) of channels
 * ch..ch+7, the zero point outside the input. */
static void dw3_fill(const emb_conv_params *p, const int8_t *in, int32_t ch, int32_t iy0,
                     int32_t n, int32_t ix0, int32_t w, int8_t *d, int32_t rowb)
{
    const int16x8_t zp = vdupq_n_s16((int16_t)p->in_zp);
    const int32_t c = p->in_c, row = p->in_w * c;
    const uint8x16_t lane = vidupq_n_u8(0, 1);
    const uint8x16_t pair = vaddq_m_n_u8(lane, lane, (uint8_t)(c - 8), vcmpcsq_n_u8(lane, 8));
    int32_t a = -ix0, b = p->in_w - ix0;          /* valid columns [a, b) of the w */
    a = a < 0 ? 0 : (a > w ? w : a);
    b = b > w ? w : (b < a ? a : b);
    /* 2 pixels a gather (byte offsets 0..7, c..c + 7), the rest one at a time */
    const int32_t pairs = c <= DW3_GATHER_MAX_C ? (b - a) >> 1 : 0;
    const int32_t singles = b - a - 2 * pairs, right = w - b;
    int32_t off = (iy0 * p->in_w + ix0 + a) * c + ch;   /* row r's first valid byte */
    for (int32_t r = 0; r < n; r++, d += rowb, off += row) {
        int8_t *e = d;
        if ((uint32_t)(iy0 + r) >= (uint32_t)p->in_h) {
            for (int32_t i = w; i > 0; i--, e += 8) vstrbq_s16(e, zp);
            continue;
        }
        for (int32_t i = a; i > 0; i--, e += 8) vstrbq_s16(e, zp);
        const int8_t *s = in + off;
        for (int32_t i = pairs; i > 0; i--, e += 16, s += 2 * c)
            vstrbq_s8(e, vldrbq_gather_offset_s8(s, pair));
        for (int32_t i = singles; i > 0; i--, e += 8, s += c) vstrbq_s16(e, vldrbq_s16(s));
        for (int32_t i = right; i > 0; i--, e += 8) vstrbq_s16(e, zp);
    }
}

enum { DW3_MAX_LEFT = 8 };   /* int8 weight << 8 still fits int16 */

/* A depthwise 3x3 layer's dw3 plan, the same for every block: column segments that fit 3
 * buffer rows, bands of nb output rows that fit the buffer, the loop variant; the
 * context's shared fields (dw3_layer). */
typedef struct {
    int32_t seg, nb;
    void (*run)(dw3_ctx *);
    dw3_ctx k;
    int16_t wv[9][8] __attribute__((aligned(16)));
    int8_t buf[DW3_BUF] __attribute__((aligned(16)));
} dw3_plan;

static void dw3_layer(const emb_conv_params *p, dw3_plan *pl)
{
    const int32_t sh = p->stride_h, sw = p->stride_w;
    static void (*const runs[2][3])(dw3_ctx *) = {
        {emb_mve_dw3_s1, emb_mve_dw3_s1_pos, emb_mve_dw3_s1_sat},
        {emb_mve_dw3_s2, emb_mve_dw3_s2_pos, emb_mve_dw3_s2_sat}};
    const int pos = p->act_min >= p->out_zp;
    const int sat = pos && p->act_min == -128 && p->act_max == 127;
    pl->run = runs[sw == 2][pos + sat];
    int32_t seg = p->out_w, max_seg = (DW3_BUF / 24 - 3) / sw;
    if (seg > max_seg) seg = max_seg;
    const int32_t rowb = 8 * (seg * sw + 3);
    int32_t nb = (DW3_BUF / rowb - 3) / sh + 1;
    if (nb > p->out_h) nb = p->out_h;
    pl->seg = seg;
    pl->nb = nb;
    vstrhq_s16(pl->k.lo, vdupq_n_s16((int16_t)p->act_min));
    vstrhq_s16(pl->k.hi, vdupq_n_s16((int16_t)p->act_max));
    pl->k.c = p->in_c;
    pl->k.zp = p->out_zp;
    pl->k.w = pl->wv[0];
    pl->k.brow = rowb;
    pl->k.x_row = sh * rowb;
    pl->k.o_row = p->out_w * p->in_c;
}

/* One block of 8 channels of a depthwise 3x3 conv (dilation 1, stride_w 1 or 2) by the
 * layer's plan. A left shift l (<= DW3_MAX_LEFT) is applied to the weights and the base
 * instead of the accumulator: equal modulo 2^32, as VSHL. Returns 0 (nothing done) for
 * larger left shifts. */
static int dw3_block(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                     const int32_t *bias, const int32_t *mult, const int32_t *shift,
                     int8_t *out, int32_t ch, dw3_plan *pl)
{
    const int32_t c = p->in_c, sh = p->stride_h, sw = p->stride_w;
    const int32x4x2_t b = vld2q_s32(bias + ch), m = vld2q_s32(mult + ch);
    const int32x4x2_t s = vld2q_s32(shift + ch);
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t left[2] = {vmaxq_s32(s.val[0], zero), vmaxq_s32(s.val[1], zero)};
    if (vmaxvq_s32(0, vmaxq_s32(left[0], left[1])) > DW3_MAX_LEFT) return 0;
    const int16x8_t left16 = vmovntq_s32(vmovnbq_s32(vdupq_n_s16(0), left[0]), left[1]);
    int16x8_t ws = vdupq_n_s16(0);
    for (int32_t t = 0; t < 9; t++) {
        const int16x8_t v = vldrbq_s16(w + t * c + ch);
        vstrhq_s16(pl->wv[t], vshlq_s16(v, left16));
        ws = vaddq_s16(ws, v);
    }
    dw3_ctx *k = &pl->k;
    const int32x4_t wsum[2] = {vmovlbq_s16(ws), vmovltq_s16(ws)};
    for (int j = 0; j < 2; j++) {
        const int32x4_t base = vsubq_s32(b.val[j], vmulq_n_s32(wsum[j], p->in_zp));
        vstrwq_s32(k->base[j], vshlq_s32(base, left[j]));
        vstrwq_s32(k->mult[j], m.val[j]);
        vstrwq_s32(k->right[j], vminq_s32(s.val[j], zero));
    }
    const int32_t seg = pl->seg, nb = pl->nb;
    for (int32_t ox0 = 0; ox0 < p->out_w; ox0 += seg) {
        const int32_t ow = p->out_w - ox0 < seg ? p->out_w - ox0 : seg;
        k->pairs = ow >> 1;
        k->odd = ow & 1;
        for (int32_t oy0 = 0; oy0 < p->out_h; oy0 += nb) {
            const int32_t rows = p->out_h - oy0 < nb ? p->out_h - oy0 : nb;
            dw3_fill(p, in, ch, oy0 * sh - p->pad_top, (rows - 1) * sh + 3,
                     ox0 * sw - p->pad_left, ow * sw + 3, pl->buf, k->brow);
            k->x = pl->buf;
            k->rows = rows;
            k->o = out + (oy0 * p->out_w + ox0) * c + ch;
            pl->run(k);
        }
    }
    return 1;
}

/* Depthwise, weights (KH, KW, C): blocks of 8 channels through dw8_block, the channels
 * left over 4 per vector, (x - zp) * w summed per lane. */
static void conv_depthwise(const emb_conv_params *p, const int8_t *in, const int8_t *w,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           int8_t *out)
{
    const int32_t c = p->in_c, zp = p->in_zp;
    const int32_t x_row = p->dil_h * p->in_w * c, x_col = p->dil_w * c, w_row = p->k_w * c;
    int32_t ch = 0;
    if (p->k_h * p->k_w <= DW8_MAX_TAPS) {
        int32_t rng[4];
        interior(p->out_w, p->stride_w, p->pad_left, p->dil_w, p->k_w, p->in_w, &rng[0], &rng[1]);
        interior(p->out_h, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h, &rng[2], &rng[3]);
        const int dw3 = p->k_h == 3 && p->k_w == 3 && p->dil_h == 1 && p->dil_w == 1 &&
                        (p->stride_w == 1 || p->stride_w == 2);
        dw3_plan pl;
        if (dw3) dw3_layer(p, &pl);
        for (; ch + 8 <= c; ch += 8) {
            if (!dw3 || !dw3_block(p, in, w, bias, mult, shift, out, ch, &pl))
                dw8_block(p, in, w, bias, mult, shift, out, ch, rng);
        }
    }
    for (; ch < c; ch += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(c - ch));
        const int32x4_t b = vldrwq_z_s32(bias + ch, pr);
        const emb_mve_rq rq = emb_mve_rq_load(mult + ch, shift + ch, pr);
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            int32_t kh0, kh1;
            emb_window(oy, p->stride_h, p->pad_top, p->dil_h, p->k_h, p->in_h, &kh0, &kh1);
            const int32_t iy = oy * p->stride_h - p->pad_top + kh0 * p->dil_h;
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                int32_t kw0, kw1;
                emb_window(ox, p->stride_w, p->pad_left, p->dil_w, p->k_w, p->in_w, &kw0, &kw1);
                const int32_t ix = ox * p->stride_w - p->pad_left + kw0 * p->dil_w;
                int32x4_t a = b;
                for (int32_t kh = 0; kw1 > kw0 && kh < kh1 - kh0; kh++) {
                    const int8_t *x = in + (iy * p->in_w + ix) * c + kh * x_row + ch;
                    const int8_t *wk = w + (kh0 + kh) * w_row + kw0 * c + ch;
                    for (int32_t kw = kw0; kw < kw1; kw++, x += x_col, wk += c) {
                        const int32x4_t xv = vsubq_n_s32(vldrbq_z_s32(x, pr), zp);
                        a = vaddq_s32(a, vmulq_s32(xv, vldrbq_z_s32(wk, pr)));
                    }
                }
                vstrbq_p_s32(out + (oy * p->out_w + ox) * c + ch,
                             emb_mve_requant(a, rq, p->out_zp, p->act_min, p->act_max), pr);
            }
        }
    }
}

void emb_conv2d_s8(const emb_conv_params *p, const int8_t *in, const int8_t *weight,
                   const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out)
{
    if (p->groups == p->in_c && p->groups == p->out_c && p->groups > 1)
        conv_depthwise(p, in, weight, bias, mult, shift, out);   /* (KH, KW, C) weights */
    else if (p->groups == 1 && p->k_h == 1 && p->k_w == 1)
        conv_pointwise(p, in, weight, bias, mult, shift, out);
    else if (p->groups == 1 && p->k_w * p->in_c <= 16 && p->k_h <= 3 && p->dil_w == 1)
        /* packing.py mve_rows: kernel rows of R bytes */
        (p->k_w * p->in_c <= 4 ? conv_rows4 : conv_rows16)(p, in, weight, bias, mult, shift, out);
    else if (p->groups == 1 && p->out_c <= SMALL_OC_MAX &&
             p->k_h * p->k_w * p->in_c <= SMALL_K_MAX)
        conv_small(p, in, weight, bias, mult, shift, out);   /* pointwise-packed weights */
    else if (p->groups == 1 && p->dil_w == 1)
        conv_rows(p, in, weight, bias, mult, shift, out);
    else
        emb_conv2d_generic_s8(p, in, weight, bias, mult, shift, out);
}
