/* Inner loops of the DSP conv2d (private to dsp/emb_conv2d.c): the 2 x 2 SMLAD dot
 * products, pointwise pixel-pair runs and depthwise 3x3 rows, each with the requantization
 * of emb_rq4 where it applies. On the target the hot ones are hand-scheduled Thumb-2 (gcc
 * spills their 13-14 live registers); on the host (EMB_ACLE_EMULATED) C loops with the same
 * arithmetic run under ASan/UBSan. The *_ctx structs are read at fixed byte offsets. */
#ifndef EMB_DSP_LOOPS_H
#define EMB_DSP_LOOPS_H
#include "emb_dsp.h"

/* a[2*i + j] += x_i . w_j over n values (zero point already folded into the bias). */
static inline __attribute__((always_inline)) void dot_2x2_raw(
    const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1, int32_t n,
    int32_t a[4])
{
    int32_t a00 = a[0], a01 = a[1], a10 = a[2], a11 = a[3], i = 0;
    for (; i + 4 <= n; i += 4) {
        const int32_t u = emb_rd4(x0 + i), v = emb_rd4(x1 + i);
        const int32_t ua = __sxtb16(u), ub = emb_sxtb16_odd(u);
        const int32_t va = __sxtb16(v), vb = emb_sxtb16_odd(v);
        const int32_t pw = emb_rd4(w0 + i);
        const int32_t pa = __sxtb16(pw), pb = emb_sxtb16_odd(pw);
        a00 = __smlad(ua, pa, a00);
        a00 = __smlad(ub, pb, a00);
        a10 = __smlad(va, pa, a10);
        a10 = __smlad(vb, pb, a10);
        const int32_t q = emb_rd4(w1 + i);
        const int32_t qa = __sxtb16(q), qb = emb_sxtb16_odd(q);
        a01 = __smlad(ua, qa, a01);
        a01 = __smlad(ub, qb, a01);
        a11 = __smlad(va, qa, a11);
        a11 = __smlad(vb, qb, a11);
    }
    for (; i < n; i++) {
        a00 += x0[i] * w0[i];
        a01 += x0[i] * w1[i];
        a10 += x1[i] * w0[i];
        a11 += x1[i] * w1[i];
    }
    a[0] = a00; a[1] = a01; a[2] = a10; a[3] = a11;
}

#if defined(EMB_ACLE_EMULATED)
/* Host: the C loop (same arithmetic as the Thumb-2 routine below). */
static void dot_2x2_rows(const int8_t *x0, const int8_t *w0, int32_t c, int32_t a[4])
{
    dot_2x2_raw(x0, x0 + c, w0, w0 + c, c, a);
}
#else
/* dot_2x2_raw for x1 = x0 + c, w1 = w0 + c (pointwise: neighbouring pixels and channels),
 * hand-scheduled: the loop needs 14 registers, which gcc spills. 22 instructions per 4
 * input channels (16 MACs), 2 iterations per pass when c / 4 is even. */
void emb_dsp_dot_2x2_rows(const int8_t *x0, const int8_t *w0, int32_t c, int32_t a[4]);
__asm__(
    "    .text\n"
    "    .syntax unified\n"
    "    .thumb\n"
    "    .align 2\n"
    "    .global emb_dsp_dot_2x2_rows\n"
    "    .thumb_func\n"
    "    .type emb_dsp_dot_2x2_rows, %function\n"
    "emb_dsp_dot_2x2_rows:\n"
    "    push {r3-r11, lr}\n"
    "    ldm r3, {r4-r7}\n"               /* a00 a01 a10 a11 */
    "    bic ip, r2, #3\n"
    "    add ip, r0, ip\n"                /* end of the x0 run */
    "    subs r2, r2, #4\n"               /* row offset, applied after the post-increment */
    "    cmp r0, ip\n"
    "    beq 3f\n"
    "    tst r2, #4\n"                    /* bit 2 of c - 4 set: c / 4 even, pairs only */
    "    bne 2f\n"
    "1:  ldr r9, [r0], #4\n"
    "    ldr r8, [r0, r2]\n"
    "    sxtb16 r10, r9\n"
    "    sxtb16 r9, r9, ror #8\n"
    "    sxtb16 r11, r8\n"
    "    sxtb16 r8, r8, ror #8\n"
    "    ldr r3, [r1], #4\n"
    "    sxtb16 lr, r3\n"
    "    smlad r4, r10, lr, r4\n"
    "    smlad r6, r11, lr, r6\n"
    "    sxtb16 r3, r3, ror #8\n"
    "    smlad r4, r9, r3, r4\n"
    "    smlad r6, r8, r3, r6\n"
    "    ldr r3, [r1, r2]\n"
    "    sxtb16 lr, r3\n"
    "    smlad r5, r10, lr, r5\n"
    "    smlad r7, r11, lr, r7\n"
    "    sxtb16 r3, r3, ror #8\n"
    "    smlad r5, r9, r3, r5\n"
    "    smlad r7, r8, r3, r7\n"
    "    cmp r0, ip\n"
    "    beq 3f\n"
    "2:  ldr r9, [r0], #4\n"
    "    ldr r8, [r0, r2]\n"
    "    sxtb16 r10, r9\n"
    "    sxtb16 r9, r9, ror #8\n"
    "    sxtb16 r11, r8\n"
    "    sxtb16 r8, r8, ror #8\n"
    "    ldr r3, [r1], #4\n"
    "    sxtb16 lr, r3\n"
    "    smlad r4, r10, lr, r4\n"
    "    smlad r6, r11, lr, r6\n"
    "    sxtb16 r3, r3, ror #8\n"
    "    smlad r4, r9, r3, r4\n"
    "    smlad r6, r8, r3, r6\n"
    "    ldr r3, [r1, r2]\n"
    "    sxtb16 lr, r3\n"
    "    smlad r5, r10, lr, r5\n"
    "    smlad r7, r11, lr, r7\n"
    "    sxtb16 r3, r3, ror #8\n"
    "    smlad r5, r9, r3, r5\n"
    "    smlad r7, r8, r3, r7\n"
    "    ldr r9, [r0], #4\n"
    "    ldr r8, [r0, r2]\n"
    "    sxtb16 r10, r9\n"
    "    sxtb16 r9, r9, ror #8\n"
    "    sxtb16 r11, r8\n"
    "    sxtb16 r8, r8, ror #8\n"
    "    ldr r3, [r1], #4\n"
    "    sxtb16 lr, r3\n"
    "    smlad r4, r10, lr, r4\n"
    "    smlad r6, r11, lr, r6\n"
    "    sxtb16 r3, r3, ror #8\n"
    "    smlad r4, r9, r3, r4\n"
    "    smlad r6, r8, r3, r6\n"
    "    ldr r3, [r1, r2]\n"
    "    sxtb16 lr, r3\n"
    "    smlad r5, r10, lr, r5\n"
    "    smlad r7, r11, lr, r7\n"
    "    sxtb16 r3, r3, ror #8\n"
    "    smlad r5, r9, r3, r5\n"
    "    smlad r7, r8, r3, r7\n"
    "    cmp r0, ip\n"
    "    bne 2b\n"
    "3:  pop {r3}\n"
    "    stm r3, {r4-r7}\n"
    "    pop {r4-r11, pc}\n"
    "    .size emb_dsp_dot_2x2_rows, .-emb_dsp_dot_2x2_rows\n");

static void dot_2x2_rows(const int8_t *x0, const int8_t *w0, int32_t c, int32_t a[4])
{
    emb_dsp_dot_2x2_rows(x0, w0, c, a);
    for (int32_t i = c & ~3; i < c; i++) {
        a[0] += x0[i] * w0[i];
        a[1] += x0[i] * w0[c + i];
        a[2] += x0[c + i] * w0[i];
        a[3] += x0[c + i] * w0[c + i];
    }
}
#endif

/* A run of pixel pairs of one output channel pair (pointwise, dense, C % 4 == 0, fast
 * requantization), at fixed offsets for the Thumb-2 loop below (PW_* are byte offsets). */
typedef struct {
    emb_rq r[2];                 /* requant constants of oc, oc + 1 */
    int32_t fb[2];               /* folded biases */
    int32_t zp128;
    uint32_t lo4, hi4;           /* emb_out4 */
    int32_t o_step, c;           /* out_c; input channels */
} pw_ctx;
#define PW_FB "32"
#define PW_ZP128 "40"
#define PW_LO4 "44"
#define PW_OSTEP "52"
#define PW_C "56"

#if defined(EMB_ACLE_EMULATED)
static void pw_run(const int8_t *x, const int8_t *w, const pw_ctx *k, int32_t n, int8_t *o)
{
    const emb_out4 ob = {k->zp128, k->lo4, k->hi4};
    for (; n > 0; n--, x += 2 * k->c, o += 2 * k->o_step) {
        int32_t a[4] = {k->fb[0], k->fb[1], k->fb[0], k->fb[1]};
        dot_2x2_rows(x, w, k->c, a);
        const uint32_t v = emb_rq4(a[0], a[1], a[2], a[3], k->r, k->r, &ob);
        emb_wr2(o, v);
        emb_wr2(o + k->o_step, v >> 16);
    }
}
#else
/* pw_run: n >= 1 pixel pairs: the 2 x 2 SMLAD loop of emb_dsp_dot_2x2_rows, then the
 * 4-lane requantization of emb_rq4 and two halfword stores, all in registers. */
void emb_dsp_pw_run(const int8_t *x, const int8_t *w, const pw_ctx *k, int32_t n, int8_t *o);
#define EMB_PW_STEP                                                                         \
    "    ldr r9, [r0], #4\n"                                                                 \
    "    ldr r8, [r0, r2]\n"                                                                 \
    "    sxtb16 r10, r9\n"                                                                   \
    "    sxtb16 r9, r9, ror #8\n"                                                            \
    "    sxtb16 r11, r8\n"                                                                   \
    "    sxtb16 r8, r8, ror #8\n"                                                            \
    "    ldr r3, [r1], #4\n"                                                                 \
    "    sxtb16 lr, r3\n"                                                                    \
    "    smlad r4, r10, lr, r4\n"                                                            \
    "    smlad r6, r11, lr, r6\n"                                                            \
    "    sxtb16 r3, r3, ror #8\n"                                                            \
    "    smlad r4, r9, r3, r4\n"                                                             \
    "    smlad r6, r8, r3, r6\n"                                                             \
    "    ldr r3, [r1, r2]\n"                                                                 \
    "    sxtb16 lr, r3\n"                                                                    \
    "    smlad r5, r10, lr, r5\n"                                                            \
    "    smlad r7, r11, lr, r7\n"                                                            \
    "    sxtb16 r3, r3, ror #8\n"                                                            \
    "    smlad r5, r9, r3, r5\n"                                                             \
    "    smlad r7, r8, r3, r7\n"
#define EMB_PW_RQ(acc, roff)                                                                \
    "    ldrd r8, r9, [r1, #" roff "]\n"                                                     \
    "    ldrd r10, r11, [r1, #" roff " + 8]\n"                                               \
    "    asr ip, " acc ", #31\n"                                                             \
    "    adds r9, r9, ip, lsl #31\n"                                                         \
    "    adc r10, r10, ip\n"                                                                 \
    "    smlal r9, r10, " acc ", r8\n"                                                       \
    "    asr r10, r10, r11\n"                                                                \
    "    add r10, r10, lr\n"                                                                 \
    "    usat " acc ", #8, r10\n"
__asm__(
    "    .text\n"
    "    .syntax unified\n"
    "    .thumb\n"
    "    .align 2\n"
    "    .global emb_dsp_pw_run\n"
    "    .thumb_func\n"
    "    .type emb_dsp_pw_run, %function\n"
    "emb_dsp_pw_run:\n"
    "    push {r1-r11, lr}\n"                    /* [sp]: w, [sp, #4]: k, [sp, #8]: n */
    "1:  ldr r2, [sp, #4]\n"
    "    ldrd r4, r5, [r2, #" PW_FB "]\n"
    "    mov r6, r4\n"
    "    mov r7, r5\n"
    "    ldr r3, [r2, #" PW_C "]\n"
    "    ldr r1, [sp]\n"
    "    add ip, r0, r3\n"                       /* end of pixel 0 */
    "    subs r2, r3, #4\n"                      /* row offset after the post-increment */
    "    tst r2, #4\n"                           /* bit 2 of c - 4 set: c / 4 even */
    "    bne 2f\n"
    EMB_PW_STEP
    "    cmp r0, ip\n"
    "    beq 3f\n"
    "2:\n"
    EMB_PW_STEP
    EMB_PW_STEP
    "    cmp r0, ip\n"
    "    bne 2b\n"
    "3:  add r0, r0, r2\n"                       /* next pair: x0 + 2c */
    "    adds r0, r0, #4\n"
    "    ldr r1, [sp, #4]\n"
    "    ldr lr, [r1, #" PW_ZP128 "]\n"
    EMB_PW_RQ("r4", "0") EMB_PW_RQ("r5", "16") EMB_PW_RQ("r6", "0") EMB_PW_RQ("r7", "16")
    "    orr r4, r4, r5, lsl #8\n"
    "    orr r4, r4, r6, lsl #16\n"
    "    orr r4, r4, r7, lsl #24\n"
    "    ldrd r8, r9, [r1, #" PW_LO4 "]\n"
    "    uqsub8 r10, r4, r8\n"
    "    uadd8 r4, r10, r8\n"
    "    uqsub8 r10, r9, r4\n"
    "    usub8 r4, r9, r10\n"
    "    eor r4, r4, #0x80808080\n"
    "    ldr r10, [sp, #48]\n"                   /* o */
    "    ldr r11, [r1, #" PW_OSTEP "]\n"
    "    strh r4, [r10]\n"
    "    lsrs r4, r4, #16\n"
    "    strh r4, [r10, r11]\n"
    "    add r10, r10, r11, lsl #1\n"
    "    str r10, [sp, #48]\n"
    "    ldr r3, [sp, #8]\n"
    "    subs r3, r3, #1\n"
    "    str r3, [sp, #8]\n"
    "    bne 1b\n"
    "    pop {r1-r11, pc}\n"
    "    .size emb_dsp_pw_run, .-emb_dsp_pw_run\n");
#undef EMB_PW_RQ
#undef EMB_PW_STEP
#define pw_run emb_dsp_pw_run
#endif

/* Pointwise with the pixel pair's channels widened once (x - zp as SXTB16 int16 pairs, 4
 * words per 4 channels: pixel 0 even / odd, pixel 1 even / odd) and every output channel
 * pair run over them: 15 instructions per 16 MACs. The requantization constants are derived
 * from mult / shift on the fly (all channels fast). Fixed byte offsets for the loop below. */
typedef struct {
    const int32_t *xb;           /* 0: widened pixel pair */
    int32_t c;                   /* 4 */
    const int32_t *bias, *mult, *shift;   /* 8, 12, 16: advanced by the loop */
    int8_t *o;                   /* 20: output of pixel 0, channel pair (advanced) */
    int32_t o_step, pairs;       /* 24, 28: out_c, channel pairs */
    int32_t zp128;               /* 32 */
    uint32_t lo4, hi4;           /* 36, 40: emb_out4 */
} pwx_ctx;

#if defined(EMB_ACLE_EMULATED)
static void pwx_run(pwx_ctx *k, const int8_t *w)
{
    const emb_out4 ob = {k->zp128, k->lo4, k->hi4};
    const int32_t c = k->c;
    for (int32_t j = 0; j < k->pairs; j++, w += 2 * c) {
        int32_t a[4] = {k->bias[2 * j], k->bias[2 * j + 1], k->bias[2 * j], k->bias[2 * j + 1]};
        for (int32_t g = 0; g < c / 4; g++) {
            const int32_t *x = k->xb + 4 * g;
            const int32_t p0 = emb_rd4(w + 4 * g), p1 = emb_rd4(w + c + 4 * g);
            a[0] = __smlad(x[1], emb_sxtb16_odd(p0), __smlad(x[0], __sxtb16(p0), a[0]));
            a[1] = __smlad(x[1], emb_sxtb16_odd(p1), __smlad(x[0], __sxtb16(p1), a[1]));
            a[2] = __smlad(x[3], emb_sxtb16_odd(p0), __smlad(x[2], __sxtb16(p0), a[2]));
            a[3] = __smlad(x[3], emb_sxtb16_odd(p1), __smlad(x[2], __sxtb16(p1), a[3]));
        }
        const emb_rq r[2] = {emb_rq_make(k->mult[2 * j], k->shift[2 * j]),
                             emb_rq_make(k->mult[2 * j + 1], k->shift[2 * j + 1])};
        const uint32_t v = emb_rq4(a[0], a[1], a[2], a[3], r, r, &ob);
        emb_wr2(k->o + 2 * j, v);
        emb_wr2(k->o + 2 * j + k->o_step, v >> 16);
    }
}
#else
void emb_dsp_pwx_run(pwx_ctx *k, const int8_t *w);
#define EMB_PWX_STEP                                                                        \
    "    ldm r0!, {r8-r11}\n"                                                                \
    "    ldr r3, [r1], #4\n"                                                                 \
    "    sxtb16 lr, r3\n"                                                                    \
    "    sxtb16 r3, r3, ror #8\n"                                                            \
    "    smlad r4, r8, lr, r4\n"                                                             \
    "    smlad r4, r9, r3, r4\n"                                                             \
    "    smlad r6, r10, lr, r6\n"                                                            \
    "    smlad r6, r11, r3, r6\n"                                                            \
    "    ldr r3, [r1, r2]\n"                                                                 \
    "    sxtb16 lr, r3\n"                                                                    \
    "    sxtb16 r3, r3, ror #8\n"                                                            \
    "    smlad r5, r8, lr, r5\n"                                                             \
    "    smlad r5, r9, r3, r5\n"                                                             \
    "    smlad r7, r10, lr, r7\n"                                                            \
    "    smlad r7, r11, r3, r7\n"
/* emb_rq_make for shift s (in/out: e - 1) into klo r3, khi lr. */
#define EMB_PWX_CONST(s)                                                                    \
    "    rsb " s ", " s ", #0\n"                                                             \
    "    movs r3, #1\n"                                                                      \
    "    lsl r3, r3, " s "\n"                                                                \
    "    lsr lr, r3, #2\n"                                                                   \
    "    and r3, r3, #2\n"                                                                   \
    "    lsl r3, r3, #30\n"                                                                  \
    "    orr r3, r3, #0x40000000\n"                                                          \
    "    sub " s ", " s ", #1\n"
#define EMB_PWX_RQ(acc, m, e1)                                                              \
    "    asr ip, " acc ", #31\n"                                                             \
    "    adds r2, r3, ip, lsl #31\n"                                                         \
    "    adc r0, lr, ip\n"                                                                   \
    "    smlal r2, r0, " acc ", " m "\n"                                                     \
    "    asr r0, r0, " e1 "\n"                                                               \
    "    add r0, r0, r1\n"                                                                   \
    "    usat " acc ", #8, r0\n"
__asm__(
    "    .text\n"
    "    .syntax unified\n"
    "    .thumb\n"
    "    .align 2\n"
    "    .global emb_dsp_pwx_run\n"
    "    .thumb_func\n"
    "    .type emb_dsp_pwx_run, %function\n"
    "emb_dsp_pwx_run:\n"
    "    push {r4-r11, lr}\n"
    "    sub sp, sp, #8\n"                        /* [sp]: k, [sp, #4]: w */
    "    str r0, [sp]\n"
    "1:  ldr r0, [sp]\n"
    "    ldr r3, [r0, #8]\n"
    "    ldrd r4, r5, [r3], #8\n"                 /* biases */
    "    str r3, [r0, #8]\n"
    "    mov r6, r4\n"
    "    mov r7, r5\n"
    "    ldr r2, [r0, #4]\n"
    "    ldr r0, [r0]\n"
    "    add ip, r0, r2, lsl #2\n"                /* end of the widened pair */
    "    subs r2, r2, #4\n"
    "    tst r2, #4\n"                            /* bit 2 of c - 4 set: c / 4 even */
    "    bne 2f\n"
    EMB_PWX_STEP
    "    cmp r0, ip\n"
    "    beq 3f\n"
    "2:\n"
    EMB_PWX_STEP
    EMB_PWX_STEP
    "    cmp r0, ip\n"
    "    bne 2b\n"
    "3:  add r1, r1, r2\n"                        /* next pair's weights: w1 + c */
    "    adds r1, r1, #4\n"
    "    str r1, [sp, #4]\n"
    "    ldr r0, [sp]\n"
    "    ldr r3, [r0, #16]\n"
    "    ldrd r8, r9, [r3], #8\n"                 /* shifts */
    "    str r3, [r0, #16]\n"
    "    ldr r3, [r0, #12]\n"
    "    ldrd r10, r11, [r3], #8\n"               /* multipliers */
    "    str r3, [r0, #12]\n"
    "    ldr r1, [r0, #32]\n"                     /* zp128 */
    EMB_PWX_CONST("r8")
    EMB_PWX_RQ("r4", "r10", "r8") EMB_PWX_RQ("r6", "r10", "r8")
    EMB_PWX_CONST("r9")
    EMB_PWX_RQ("r5", "r11", "r9") EMB_PWX_RQ("r7", "r11", "r9")
    "    orr r4, r4, r5, lsl #8\n"
    "    orr r4, r4, r6, lsl #16\n"
    "    orr r4, r4, r7, lsl #24\n"
    "    ldr r0, [sp]\n"
    "    ldrd r2, r3, [r0, #36]\n"
    "    uqsub8 ip, r4, r2\n"
    "    uadd8 r4, ip, r2\n"
    "    uqsub8 ip, r3, r4\n"
    "    usub8 r4, r3, ip\n"
    "    eor r4, r4, #0x80808080\n"
    "    ldrd r2, r3, [r0, #20]\n"                /* o, o_step */
    "    strh r4, [r2]\n"
    "    lsrs r4, r4, #16\n"
    "    strh r4, [r2, r3]\n"
    "    adds r2, r2, #2\n"
    "    str r2, [r0, #20]\n"
    "    ldr r1, [sp, #4]\n"
    "    ldr r3, [r0, #28]\n"
    "    subs r3, r3, #1\n"
    "    str r3, [r0, #28]\n"
    "    bne 1b\n"
    "    add sp, sp, #8\n"
    "    pop {r4-r11, pc}\n"
    "    .size emb_dsp_pwx_run, .-emb_dsp_pwx_run\n");
#undef EMB_PWX_RQ
#undef EMB_PWX_CONST
#undef EMB_PWX_STEP
#define pwx_run emb_dsp_pwx_run
#endif

/* dw4_taps over a complete 3x3 window (dilation along W 1), weights pre-split by SXTB16:
 * wx[2t], wx[2t + 1] are tap t's (ch0, ch2) and (ch1, ch3) int16 pairs. */
static void dw4_3x3(const int8_t *x, int32_t c, int32_t x_row, const int32_t *wx,
                    int32_t zp2, int32_t a[4])
{
    int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    for (int32_t t = 0; t < 9; t++) {
        const int32_t xv = emb_rd4(x + (t / 3) * x_row + (t % 3) * c);
        const int32_t xa = __sxtab16(zp2, xv), xb = emb_sxtab16_odd(zp2, xv);
        a0 = __smlabb(xa, wx[2 * t], a0);
        a2 = __smlatt(xa, wx[2 * t], a2);
        a1 = __smlabb(xb, wx[2 * t + 1], a1);
        a3 = __smlatt(xb, wx[2 * t + 1], a3);
    }
    a[0] = a0; a[1] = a1; a[2] = a2; a[3] = a3;
}

/* Everything a run of interior 3x3 pixels of one 4-channel block needs, at fixed offsets
 * for the Thumb-2 loop below (DW_* are byte offsets). */
typedef struct {
    int32_t wx[18];              /* dw4_3x3 weights */
    emb_rq r[4];                 /* requant constants per channel (all fast) */
    int32_t bias[4];
    int32_t zp2, zp128;
    uint32_t lo4, hi4;           /* emb_out4 */
    int32_t x_step, o_step;      /* bytes between neighbouring pixels in x / out */
} dw4_ctx;
#define DW_R "72"
#define DW_BIAS "136"
#define DW_ZP2 "152"
#define DW_ZP128 "156"
#define DW_LO4 "160"
#define DW_XSTEP "168"

#if defined(EMB_ACLE_EMULATED)
static void dw4_row(const int8_t *x, int32_t c, int32_t x_row, const dw4_ctx *k, int8_t *o,
                    int32_t n)
{
    const emb_out4 ob = {k->zp128, k->lo4, k->hi4};
    for (; n > 0; n--, x += k->x_step, o += k->o_step) {
        int32_t a[4] = {k->bias[0], k->bias[1], k->bias[2], k->bias[3]};
        dw4_3x3(x, c, x_row, k->wx, k->zp2, a);
        emb_wr4(o, emb_rq4(a[0], a[1], a[2], a[3], k->r, k->r + 2, &ob));
    }
}
#else
/* dw4_row: n >= 1 interior pixels, each 9 taps (8 instructions each) and the 4-lane
 * requantization of emb_rq4, hand-scheduled (gcc spills in both). */
void emb_dsp_dw4_row(const int8_t *x, int32_t c, int32_t x_row, const dw4_ctx *k, int8_t *o,
                     int32_t n);
#define EMB_DW_TAP(addr, woff)                                                              \
    "    ldr r8, " addr "\n"                                                                 \
    "    sxtab16 r9, lr, r8\n"                                                               \
    "    sxtab16 r8, lr, r8, ror #8\n"                                                       \
    "    ldrd r10, r11, [r3, #" woff "]\n"                                                   \
    "    smlabb r4, r9, r10, r4\n"                                                           \
    "    smlatt r6, r9, r10, r6\n"                                                           \
    "    smlabb r5, r8, r11, r5\n"                                                           \
    "    smlatt r7, r8, r11, r7\n"
#define EMB_DW_ROW(w0, w1, w2)                                                              \
    EMB_DW_TAP("[r12]", w0) EMB_DW_TAP("[r12, r1]", w1) EMB_DW_TAP("[r12, r1, lsl #1]", w2)
#define EMB_DW_RQ(acc, roff)                                                                \
    "    ldrd r8, r9, [r3, #" DW_R " + " roff "]\n"                                          \
    "    ldrd r10, r11, [r3, #" DW_R " + " roff " + 8]\n"                                    \
    "    asr r12, " acc ", #31\n"                                                            \
    "    adds r9, r9, r12, lsl #31\n"                                                        \
    "    adc r10, r10, r12\n"                                                                \
    "    smlal r9, r10, " acc ", r8\n"                                                       \
    "    asr r10, r10, r11\n"                                                                \
    "    add r10, r10, lr\n"                                                                 \
    "    usat " acc ", #8, r10\n"
__asm__(
    "    .text\n"
    "    .syntax unified\n"
    "    .thumb\n"
    "    .align 2\n"
    "    .global emb_dsp_dw4_row\n"
    "    .thumb_func\n"
    "    .type emb_dsp_dw4_row, %function\n"
    "emb_dsp_dw4_row:\n"
    "    push {r4-r11, lr}\n"
    "1:  ldr lr, [r3, #" DW_ZP2 "]\n"
    "    ldrd r4, r5, [r3, #" DW_BIAS "]\n"
    "    ldrd r6, r7, [r3, #" DW_BIAS " + 8]\n"
    "    mov r12, r0\n"
    EMB_DW_ROW("0", "8", "16")
    "    add r12, r12, r2\n"
    EMB_DW_ROW("24", "32", "40")
    "    add r12, r12, r2\n"
    EMB_DW_ROW("48", "56", "64")
    "    ldr lr, [r3, #" DW_ZP128 "]\n"
    EMB_DW_RQ("r4", "0") EMB_DW_RQ("r5", "16") EMB_DW_RQ("r6", "32") EMB_DW_RQ("r7", "48")
    "    orr r4, r4, r5, lsl #8\n"
    "    orr r4, r4, r6, lsl #16\n"
    "    orr r4, r4, r7, lsl #24\n"
    "    ldrd r8, r9, [r3, #" DW_LO4 "]\n"       /* act clamp per byte lane, as emb_clamp4 */
    "    uqsub8 r10, r4, r8\n"
    "    uadd8 r4, r10, r8\n"
    "    uqsub8 r10, r9, r4\n"
    "    usub8 r4, r9, r10\n"
    "    eor r4, r4, #0x80808080\n"
    "    ldrd r8, r9, [r3, #" DW_XSTEP "]\n"     /* x_step, o_step */
    "    add r0, r0, r8\n"
    "    ldrd r10, r11, [sp, #36]\n"             /* o, n */
    "    str r4, [r10]\n"
    "    add r10, r10, r9\n"
    "    subs r11, r11, #1\n"
    "    strd r10, r11, [sp, #36]\n"
    "    bne 1b\n"
    "    pop {r4-r11, pc}\n"
    "    .size emb_dsp_dw4_row, .-emb_dsp_dw4_row\n");
#undef EMB_DW_RQ
#undef EMB_DW_ROW
#undef EMB_DW_TAP
#define dw4_row emb_dsp_dw4_row
#endif

#endif
