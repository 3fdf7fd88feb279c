/* Inner loops of the DSP conv2d (private to dsp/emb_conv2d.c): the 2 x 2 SMLAD dot
 * products and pixel-pair runs of int8 pointwise, the w16 (int16 weight) pointwise / first
 * conv run, and the depthwise 3x3 row run, each with its requantization. On the target the
 * hot ones are hand-scheduled Thumb-2 (gcc spills their 13-14 live registers); on the host
 * (EMB_ACLE_EMULATED) C loops with the same arithmetic run under ASan/UBSan. The *_ctx
 * structs are read at fixed byte offsets. */
#ifndef EMB_DSP_LOOPS_H
#define EMB_DSP_LOOPS_H
#include <stddef.h>
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
    EMB_ASM_BEGIN("emb_dsp_dot_2x2_rows")
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
    EMB_ASM_END("emb_dsp_dot_2x2_rows"));

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
    EMB_ASM_BEGIN("emb_dsp_pw_run")
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
    EMB_ASM_END("emb_dsp_pw_run"));
#undef EMB_PW_RQ
#undef EMB_PW_STEP
#define pw_run emb_dsp_pw_run
#endif

/* Depthwise 3x3, 4 channels: each output row reads 3 buffer rows (DW3_ROW bytes apart, a ring
 * filled by dw3_fill in emb_conv2d.c), one 6-word slot per output pixel: kw 2 of channels
 * (0, 2) and (1, 3) as int16 pairs (x - zp), then the tap pairs (kw 0, kw 1) of channels 0,
 * 2, 1, 3. Weights per buffer row in the same order (6 words), so a kernel row is LDM, LDM,
 * 4 SMLAxx, 2 SMLAD, LDRD, LDRD, 2 SMLAD: 12 instructions for 12 MACs. Fixed byte offsets
 * for the Thumb-2 routine below. */
#define DW3_ROW_S "576"          /* DW3_ROW, for the assembler */
#define DW3_NEXT_S "1128"         /* 2 * DW3_ROW - 24: row 2 of slot j -> row 0 of slot j + 1 */
#define DW3_S_S "11"             /* DW3_S, for the assembler */
/* DW3_S: the fixed final shift of the S forms (packing.dw3_table, offline). */
enum { DW3_SLOTS = 24, DW3_ROW = DW3_SLOTS * 24, DW3_S = 11 };
typedef char emb_dw3_row_matches_asm[DW3_ROW == 576 && 2 * DW3_ROW - 24 == 1128 &&
                                     DW3_S == 11 ? 1 : -1];
typedef struct {
    const int32_t *x;            /* 0: slot 0 of buffer row 0 */
    const int32_t *wt;           /* 4: 18 weight words, buffer row order */
    const int32_t *rq;           /* 8: {m, klo, khi, e1} per channel (rq_fold's; S forms: */
                                 /* {m, R}, packing.dw3_table), biases before */
    int8_t *o;                   /* 12: output of slot 0 */
    int32_t o_step;              /* 16: C */
    int8_t *o_end;               /* 20: o after the last slot */
    uint32_t hi4, lo4;           /* 24, 28: act_max - act_min, act_min per byte */
    int pos;                     /* 32: rq_mode: 0, 1 (emb_rq_pos_ok), 2 (and full range); */
                                 /* 3, 4: 1, 2 in the S form */
} dw3_ctx;

#if defined(EMB_ACLE_EMULATED)
/* One requantized lane as uint8 from rq_fold's constants q, with or without the sign term. */
static inline uint32_t emb_rq_lane(int32_t a, const int32_t q[4], int pos)
{
    return __usat(pos ? emb_rq_apply_pos(a, q[0], q[1], q[2], q[3])
                      : emb_rq_apply(a, q[0], q[1], q[2], q[3]), 8);
}

/* The S form's lane (packing.dw3_table's {m, R}): SMMLA, then USAT with ASR #DW3_S. */
static inline uint32_t emb_rq_lane_s(int32_t a, const int32_t q[2])
{
    const int32_t v = (int32_t)(((int64_t)a * q[0] + (int64_t)q[1] * 4294967296LL) >> 32);
    return __usat(v >> DW3_S, 8);
}

static void dw3_run(const dw3_ctx *k)
{
    const int32_t *x = k->x;
    for (int8_t *o = k->o; o != k->o_end; o += k->o_step, x += 6) {
        int32_t a[4] = {k->rq[-4], k->rq[-3], k->rq[-2], k->rq[-1]};   /* c0 c1 c2 c3 */
        for (int32_t r = 0; r < 3; r++) {
            const int32_t *xr = x + r * (DW3_ROW / 4), *w = k->wt + 6 * r;
            a[0] = __smlabb(xr[0], w[0], a[0]);
            a[2] = __smlatt(xr[0], w[0], a[2]);
            a[1] = __smlabb(xr[1], w[1], a[1]);
            a[3] = __smlatt(xr[1], w[1], a[3]);
            a[0] = __smlad(xr[2], w[2], a[0]);
            a[2] = __smlad(xr[3], w[3], a[2]);
            a[1] = __smlad(xr[4], w[4], a[1]);
            a[3] = __smlad(xr[5], w[5], a[3]);
        }
        uint32_t u = 0;
        for (int32_t j = 0; j < 4; j++)
            u |= (k->pos >= 3 ? emb_rq_lane_s(a[j], k->rq + 2 * j)
                              : emb_rq_lane(a[j], k->rq + 4 * j, k->pos)) << (8 * j);
        emb_wr4(o, __uadd8(__usub8(k->hi4, __uqsub8(k->hi4, u)), k->lo4));
    }
}
#define dw3_run_fn(pos) dw3_run   /* reads k->pos */
#else
void emb_dsp_dw3_run(const dw3_ctx *k);
#define EMB_DW3_ROW                                                                         \
    "    ldm r0, {r8-r11}\n"                                                                 \
    "    ldm r3!, {r1, r2, r12, lr}\n"                                                       \
    "    smlabb r4, r8, r1, r4\n"                                                            \
    "    smlatt r6, r8, r1, r6\n"                                                            \
    "    smlabb r5, r9, r2, r5\n"                                                            \
    "    smlatt r7, r9, r2, r7\n"                                                            \
    "    smlad r4, r10, r12, r4\n"                                                           \
    "    smlad r6, r11, lr, r6\n"                                                            \
    "    ldrd r8, r9, [r0, #16]\n"                                                           \
    "    ldrd r1, r2, [r3], #8\n"                                                            \
    "    smlad r5, r8, r1, r5\n"                                                             \
    "    smlad r7, r9, r2, r7\n"
/* One lane's requantization, constants {m, klo, khi, e1} from r2: with the sign term, or
 * without it (_POS: emb_rq_pos_ok). */
#define EMB_DW3_LANE(a)                                                                     \
    "    ldm r2!, {r8-r11}\n"                                                                \
    "    asr ip, " a ", #31\n"                                                               \
    "    adds r9, r9, ip, lsl #31\n"                                                         \
    "    adc r10, r10, ip\n"                                                                 \
    "    smlal r9, r10, " a ", r8\n"                                                         \
    "    asr " a ", r10, r11\n"                                                              \
    "    usat " a ", #8, " a "\n"
/* The S form (packing.dw3_table): constants {m, R}; SMMLA, then USAT with ASR #DW3_S. */
#define EMB_DW3_LANE_S(a)                                                                   \
    "    ldrd r8, r9, [r2], #8\n"                                                            \
    "    smmla " a ", " a ", r8, r9\n"                                                       \
    "    usat " a ", #8, " a ", asr #" DW3_S_S "\n"
#define EMB_DW3_LANE_POS(a)                                                                 \
    "    ldm r2!, {r8-r11}\n"                                                                \
    "    smlal r9, r10, " a ", r8\n"                                                         \
    "    asr " a ", r10, r11\n"                                                              \
    "    usat " a ", #8, " a "\n"
/* The act clamp of 4 uint8 lanes (value - act_min) in r4 and their int8 form; _FULL for
 * act_min -128, act_max 127, where only the sign flip is left. */
#define EMB_DW3_CLAMP                                                                       \
    "    ldrd r8, r9, [sp, #24]\n"                /* hi4, lo4 */                            \
    "    uqsub8 ip, r8, r4\n"                                                               \
    "    usub8 r4, r8, ip\n"                                                                \
    "    uadd8 r4, r4, r9\n"
#define EMB_CLAMP_FULL "    eor r4, r4, #0x80808080\n"
/* Two pixels (A at r0 + d, B at r0 + d + 24; d a byte offset: the pair loop keeps r0 at
 * buffer row 1) of a kernel row sharing its weight loads: LDM w, LDRD x of A, 4 MACs, LDRD x
 * of B, 4 MACs (kw 2), then the tap pairs the same way. */
#define EMB_DW3_ROW2(d)                                                                     \
    "    ldm r3!, {r1, r2}\n"                                                               \
    "    ldrd r12, lr, [r0, #(" d ")]\n"                                                    \
    "    smlabb r4, r12, r1, r4\n"                                                          \
    "    smlatt r6, r12, r1, r6\n"                                                          \
    "    smlabb r5, lr, r2, r5\n"                                                           \
    "    smlatt r7, lr, r2, r7\n"                                                           \
    "    ldrd r12, lr, [r0, #(" d " + 24)]\n"                                               \
    "    smlabb r8, r12, r1, r8\n"                                                          \
    "    smlatt r10, r12, r1, r10\n"                                                        \
    "    smlabb r9, lr, r2, r9\n"                                                           \
    "    smlatt r11, lr, r2, r11\n"                                                         \
    "    ldm r3!, {r1, r2}\n"                                                               \
    "    ldrd r12, lr, [r0, #(" d " + 8)]\n"                                                \
    "    smlad r4, r12, r1, r4\n"                                                           \
    "    smlad r6, lr, r2, r6\n"                                                            \
    "    ldrd r12, lr, [r0, #(" d " + 32)]\n"                                               \
    "    smlad r8, r12, r1, r8\n"                                                           \
    "    smlad r10, lr, r2, r10\n"                                                          \
    "    ldm r3!, {r1, r2}\n"                                                               \
    "    ldrd r12, lr, [r0, #(" d " + 16)]\n"                                               \
    "    smlad r5, r12, r1, r5\n"                                                           \
    "    smlad r7, lr, r2, r7\n"                                                            \
    "    ldrd r12, lr, [r0, #(" d " + 40)]\n"                                               \
    "    smlad r9, r12, r1, r9\n"                                                           \
    "    smlad r11, lr, r2, r11\n"
/* Lanes a (pixel A) and b (pixel B) of one channel without the sign terms, constants
 * {m, klo, khi, e1} from r2 (klo, khi loaded again for lane b). */
#define EMB_DW3_LANE2_POS(a, b)                                                             \
    "    ldm r2!, {r1, r3, r12, lr}\n"                                                       \
    "    smlal r3, r12, " a ", r1\n"                                                         \
    "    asr " a ", r12, lr\n"                                                               \
    "    usat " a ", #8, " a "\n"                                                            \
    "    ldrd r3, r12, [r2, #-12]\n"                                                         \
    "    smlal r3, r12, " b ", r1\n"                                                         \
    "    asr " b ", r12, lr\n"                                                               \
    "    usat " b ", #8, " b "\n"
#define EMB_DW3_LANE2_S(a, b)                                                               \
    "    ldrd r1, r3, [r2], #8\n"                                                            \
    "    smmla " a ", " a ", r1, r3\n"                                                       \
    "    usat " a ", #8, " a ", asr #" DW3_S_S "\n"                                           \
    "    smmla " b ", " b ", r1, r3\n"                                                       \
    "    usat " b ", #8, " b ", asr #" DW3_S_S "\n"
#define EMB_DW3_CLAMP2                                                                      \
    "    ldrd r1, r3, [sp, #24]\n"                /* hi4, lo4 */                            \
    "    uqsub8 ip, r1, r4\n"                                                               \
    "    usub8 r4, r1, ip\n"                                                                \
    "    uadd8 r4, r4, r3\n"                                                                \
    "    uqsub8 ip, r1, r8\n"                                                               \
    "    usub8 r8, r1, ip\n"                                                                \
    "    uadd8 r8, r8, r3\n"
#define EMB_CLAMP_FULL2                                                                     \
    "    eor r4, r4, #0x80808080\n"                                                         \
    "    eor r8, r8, #0x80808080\n"
/* Pixel pairs first (pos forms: 2 x 4 accumulators leave no register for the sign terms'
 * temporary), while at least 2 pixels are left (o < o_end - o_step, kept in the ctx copy's
 * x word, which is used up); then single pixels. */
#define EMB_DW3_PAIRS(LANE2, CLAMP2)                                                        \
    "    ldrd r10, r11, [sp, #12]\n"              /* o, o_step */                           \
    "    ldr r1, [sp, #20]\n"                                                               \
    "    sub r1, r1, r11\n"                                                                 \
    "    str r1, [sp]\n"                                                                    \
    "    cmp r10, r1\n"                                                                     \
    "    addw r0, r0, #" DW3_ROW_S "\n"              /* r0 at buffer row 1 */               \
    "    bhs 3f\n"                                /* fewer than 2 pixels left */            \
    "2:  ldrd r3, ip, [sp, #4]\n"                 /* wt, rq */                              \
    "    ldmdb ip, {r4-r7}\n"                     /* biases, pixel A */                     \
    "    ldmdb ip, {r8-r11}\n"                    /* pixel B */                             \
    EMB_DW3_ROW2("-" DW3_ROW_S)                                                             \
    EMB_DW3_ROW2("0")                                                                       \
    EMB_DW3_ROW2(DW3_ROW_S)                                                                 \
    "    ldr r2, [sp, #8]\n"                                                                \
    LANE2("r4", "r8") LANE2("r5", "r9") LANE2("r6", "r10") LANE2("r7", "r11")               \
    "    orr r4, r4, r5, lsl #8\n"                                                          \
    "    orr r4, r4, r6, lsl #16\n"                                                         \
    "    orr r4, r4, r7, lsl #24\n"                                                         \
    "    orr r8, r8, r9, lsl #8\n"                                                          \
    "    orr r8, r8, r10, lsl #16\n"                                                        \
    "    orr r8, r8, r11, lsl #24\n"                                                        \
    CLAMP2                                                                                  \
    "    ldrd r10, r11, [sp, #12]\n"              /* o, o_step */                           \
    "    str r4, [r10]\n"                                                                   \
    "    str r8, [r10, r11]\n"                                                              \
    "    add r10, r10, r11, lsl #1\n"                                                       \
    "    str r10, [sp, #12]\n"                                                              \
    "    add r0, r0, #48\n"                       /* the next pair's slots */               \
    "    ldr r1, [sp]\n"                                                                    \
    "    cmp r10, r1\n"                                                                     \
    "    blo 2b\n"                                                                          \
    "3:  subw r0, r0, #" DW3_ROW_S "\n"                                                     \
    "    ldr r10, [sp, #12]\n"                                                              \
    "    ldr r1, [sp, #20]\n"                                                               \
    "    cmp r10, r1\n"                                                                     \
    "    beq 4f\n"
#define EMB_DW3_FN(name, LANE, CLAMP, PAIRS)                                                \
    __asm__(                                                                                \
    EMB_ASM_BEGIN(name)                                                                     \
    "    push {r4-r11, lr}\n"                                                               \
    "    ldm r0, {r1-r8}\n"                                                                 \
    "    push {r1-r8}\n"                          /* [sp]: a copy of the ctx */             \
    "    mov r0, r1\n"                                                                      \
    PAIRS                                                                                   \
    "1:  ldrd r3, ip, [sp, #4]\n"                 /* wt, rq */                              \
    "    ldmdb ip, {r4-r7}\n"                     /* biases */                              \
    EMB_DW3_ROW                                                                             \
    "    addw r0, r0, #" DW3_ROW_S "\n"                                                      \
    EMB_DW3_ROW                                                                             \
    "    addw r0, r0, #" DW3_ROW_S "\n"                                                      \
    EMB_DW3_ROW                                                                             \
    "    ldr r2, [sp, #8]\n"                                                                \
    LANE("r4") LANE("r5") LANE("r6") LANE("r7")                                             \
    "    orr r4, r4, r5, lsl #8\n"                                                          \
    "    orr r4, r4, r6, lsl #16\n"                                                         \
    "    orr r4, r4, r7, lsl #24\n"                                                         \
    CLAMP                                                                                   \
    "    ldrd r10, r11, [sp, #12]\n"              /* o, o_step */                           \
    "    str r4, [r10]\n"                                                                   \
    "    add r10, r10, r11\n"                                                               \
    "    str r10, [sp, #12]\n"                                                              \
    "    subw r0, r0, #" DW3_NEXT_S "\n"                                                     \
    "    ldr r1, [sp, #20]\n"                                                               \
    "    cmp r10, r1\n"                                                                     \
    "    bne 1b\n"                                                                          \
    "4:  add sp, sp, #32\n"                                                                 \
    "    pop {r4-r11, pc}\n"                                                                \
    EMB_ASM_END(name));
void emb_dsp_dw3_run_pos(const dw3_ctx *k);
void emb_dsp_dw3_run_pos_full(const dw3_ctx *k);
void emb_dsp_dw3_run_s(const dw3_ctx *k);
void emb_dsp_dw3_run_s_full(const dw3_ctx *k);
EMB_DW3_FN("emb_dsp_dw3_run", EMB_DW3_LANE, EMB_DW3_CLAMP, "")
EMB_DW3_FN("emb_dsp_dw3_run_pos", EMB_DW3_LANE_POS, EMB_DW3_CLAMP,
           EMB_DW3_PAIRS(EMB_DW3_LANE2_POS, EMB_DW3_CLAMP2))
EMB_DW3_FN("emb_dsp_dw3_run_pos_full", EMB_DW3_LANE_POS, EMB_CLAMP_FULL,
           EMB_DW3_PAIRS(EMB_DW3_LANE2_POS, EMB_CLAMP_FULL2))
EMB_DW3_FN("emb_dsp_dw3_run_s", EMB_DW3_LANE_S, EMB_DW3_CLAMP,
           EMB_DW3_PAIRS(EMB_DW3_LANE2_S, EMB_DW3_CLAMP2))
EMB_DW3_FN("emb_dsp_dw3_run_s_full", EMB_DW3_LANE_S, EMB_CLAMP_FULL,
           EMB_DW3_PAIRS(EMB_DW3_LANE2_S, EMB_CLAMP_FULL2))
#undef EMB_DW3_FN
#undef EMB_DW3_PAIRS
#undef EMB_CLAMP_FULL2
#undef EMB_DW3_CLAMP2
#undef EMB_DW3_LANE2_POS
#undef EMB_DW3_ROW2
#undef EMB_DW3_LANE
#undef EMB_DW3_LANE_POS
#undef EMB_DW3_LANE_S
#undef EMB_DW3_LANE2_S
#undef EMB_DW3_CLAMP
#undef EMB_DW3_ROW
static void (*const dw3_runs[5])(const dw3_ctx *) = {emb_dsp_dw3_run, emb_dsp_dw3_run_pos,
                                                     emb_dsp_dw3_run_pos_full,
                                                     emb_dsp_dw3_run_s, emb_dsp_dw3_run_s_full};
#define dw3_run_fn(pos) dw3_runs[pos]
#endif

/* n >= 1 slots of a buffer row from widened columns ab (2 words a column, x_step bytes from
 * one slot's first column to the next): kw 2's words as they are, the kw 0 / kw 1 pairs
 * through PKHBT / PKHTB. */
#if defined(EMB_ACLE_EMULATED)
static void dw3_slots(const int32_t *ab, int32_t *slot, int32_t n, int32_t x_step)
{
    for (; n > 0; n--, slot += 6, ab += x_step / 4) {
        slot[0] = ab[4];
        slot[1] = ab[5];
        slot[2] = (int32_t)(((uint32_t)ab[0] & 0xFFFFu) | ((uint32_t)ab[2] << 16));
        slot[3] = (int32_t)(((uint32_t)ab[2] & 0xFFFF0000u) | ((uint32_t)ab[0] >> 16));
        slot[4] = (int32_t)(((uint32_t)ab[1] & 0xFFFFu) | ((uint32_t)ab[3] << 16));
        slot[5] = (int32_t)(((uint32_t)ab[3] & 0xFFFF0000u) | ((uint32_t)ab[1] >> 16));
    }
}
#else
void emb_dsp_dw3_slots(const int32_t *ab, int32_t *slot, int32_t n, int32_t x_step);
__asm__(
    EMB_ASM_BEGIN("emb_dsp_dw3_slots")
    "    push {r4-r11, lr}\n"
    "1:  ldm r0, {r4-r9}\n"                       /* a0 b0 a1 b1 a2 b2 */
    "    pkhbt r10, r4, r6, lsl #16\n"
    "    pkhtb r11, r6, r4, asr #16\n"
    "    pkhbt r12, r5, r7, lsl #16\n"
    "    pkhtb lr, r7, r5, asr #16\n"
    "    stm r1!, {r8-r12, lr}\n"
    "    add r0, r0, r3\n"
    "    subs r2, r2, #1\n"
    "    bne 1b\n"
    "    pop {r4-r11, pc}\n"
    EMB_ASM_END("emb_dsp_dw3_slots"));
#define dw3_slots emb_dsp_dw3_slots
#endif

/* A whole buffer row of n >= 1 slots straight from the input row, stride 1 or 2: slot j
 * from columns j * stride .. j * stride + 2, each column (4 channels at src, the next ones
 * step bytes on) loaded and widened minus zp (zp2) once. Padding: flags bit 0, column 0
 * is outside the image (0, src is column 1); bit 1, the last column is (0); every other
 * column is inside. */
#if defined(EMB_ACLE_EMULATED)
static void dw3_row(const int8_t *src, int32_t step, int32_t *slot, int32_t n, int32_t zp2,
                    int32_t flags, int32_t stride)
{
    const int32_t ncol = (n - 1) * stride + 3;
    int32_t ab[2 * (2 * DW3_SLOTS + 1)];
    for (int32_t k = 0; k < ncol; k++) {
        const int pad = (k == 0 && (flags & 1)) || (k == ncol - 1 && (flags & 2));
        const int32_t u = pad ? 0 : emb_rd4(src);
        ab[2 * k] = pad ? 0 : __sxtab16(zp2, u);
        ab[2 * k + 1] = pad ? 0 : emb_sxtab16_odd(zp2, u);
        if (!pad) src += step;
    }
    dw3_slots(ab, slot, n, 8 * stride);
}

static void dw3_row_s1(const int8_t *src, int32_t step, int32_t *slot, int32_t n, int32_t zp2,
                       int32_t flags)
{
    dw3_row(src, step, slot, n, zp2, flags, 1);
}

static void dw3_row_s2(const int8_t *src, int32_t step, int32_t *slot, int32_t n, int32_t zp2,
                       int32_t flags)
{
    dw3_row(src, step, slot, n, zp2, flags, 2);
}
#else
/* Per slot: the new column LDR, ADD, SXTAB16 x 2 (stride 2: two columns LDR, LDR, one ADD,
 * 4 SXTAB16), then 4 PKH and 3 STRD (kw 2's words last, post-indexed); the columns rotate
 * through r4-r9 (unrolled: no moves); the last slot apart, its last column maybe padding. */
void emb_dsp_dw3_row_s1(const int8_t *src, int32_t step, int32_t *slot, int32_t n, int32_t zp2,
                        int32_t flags);
void emb_dsp_dw3_row_s2(const int8_t *src, int32_t step, int32_t *slot, int32_t n, int32_t zp2,
                        int32_t flags);
#define EMB_DW3_COL(a, b)                                                                   \
    "    ldr " a ", [r0]\n"                                                                  \
    "    add r0, r0, r1\n"                                                                   \
    "    sxtab16 " b ", ip, " a ", ror #8\n"                                                 \
    "    sxtab16 " a ", ip, " a "\n"
/* two neighbouring columns (a b) and (c d): one pointer step */
#define EMB_DW3_COL2(a, b, c, d)                                                            \
    "    ldr " c ", [r0, r1]\n"                                                             \
    "    ldr " a ", [r0]\n"                                                                 \
    "    add r0, r0, r1, lsl #1\n"                                                          \
    "    sxtab16 " b ", ip, " a ", ror #8\n"                                                \
    "    sxtab16 " a ", ip, " a "\n"                                                        \
    "    sxtab16 " d ", ip, " c ", ror #8\n"                                                \
    "    sxtab16 " c ", ip, " c "\n"
/* a column that is padding (0) where the flags bit `bit` is set */
#define EMB_DW3_COL_IF(a, b, bit)                                                           \
    "    tst lr, #" bit "\n"                                                                 \
    "    itt eq\n"                                                                           \
    "    ldreq " a ", [r0]\n"                                                                \
    "    addeq r0, r0, r1\n"                                                                 \
    "    sxtab16 " b ", ip, " a ", ror #8\n"                                                 \
    "    sxtab16 " a ", ip, " a "\n"                                                         \
    "    itt ne\n"                                                                           \
    "    movne " a ", #0\n"                                                                  \
    "    movne " b ", #0\n"
/* slot from columns (a0 b0), (a1 b1), (a2 b2) */
#define EMB_DW3_SLOT(a0, b0, a1, b1, a2, b2)                                                \
    "    pkhbt r10, " a0 ", " a1 ", lsl #16\n"                                               \
    "    pkhtb r11, " a1 ", " a0 ", asr #16\n"                                               \
    "    strd r10, r11, [r2, #8]\n"                                                          \
    "    pkhbt r10, " b0 ", " b1 ", lsl #16\n"                                               \
    "    pkhtb r11, " b1 ", " b0 ", asr #16\n"                                               \
    "    strd r10, r11, [r2, #16]\n"                                                         \
    "    strd " a2 ", " b2 ", [r2], #24\n"
#define EMB_DW3_ROW_ENTRY                                                                   \
    "    push {r4-r11, lr}\n"                                                               \
    "    ldrd ip, lr, [sp, #36]\n"                /* zp2, flags */                          \
    EMB_DW3_COL_IF("r4", "r5", "1")                                                         \
    "    subs r3, r3, #1\n"                       /* slots before the last */
__asm__(
    EMB_ASM_BEGIN("emb_dsp_dw3_row_s1")
    EMB_DW3_ROW_ENTRY
    EMB_DW3_COL("r6", "r7")
    "    beq 5f\n"
    "1:\n"
    EMB_DW3_COL("r8", "r9")
    EMB_DW3_SLOT("r4", "r5", "r6", "r7", "r8", "r9")
    "    subs r3, r3, #1\n"
    "    beq 6f\n"
    EMB_DW3_COL("r4", "r5")
    EMB_DW3_SLOT("r6", "r7", "r8", "r9", "r4", "r5")
    "    subs r3, r3, #1\n"
    "    beq 7f\n"
    EMB_DW3_COL("r6", "r7")
    EMB_DW3_SLOT("r8", "r9", "r4", "r5", "r6", "r7")
    "    subs r3, r3, #1\n"
    "    bne 1b\n"
    "5:\n"
    EMB_DW3_COL_IF("r8", "r9", "2")
    EMB_DW3_SLOT("r4", "r5", "r6", "r7", "r8", "r9")
    "    pop {r4-r11, pc}\n"
    "6:\n"
    EMB_DW3_COL_IF("r4", "r5", "2")
    EMB_DW3_SLOT("r6", "r7", "r8", "r9", "r4", "r5")
    "    pop {r4-r11, pc}\n"
    "7:\n"
    EMB_DW3_COL_IF("r6", "r7", "2")
    EMB_DW3_SLOT("r8", "r9", "r4", "r5", "r6", "r7")
    "    pop {r4-r11, pc}\n"
    EMB_ASM_END("emb_dsp_dw3_row_s1"));
__asm__(
    EMB_ASM_BEGIN("emb_dsp_dw3_row_s2")
    EMB_DW3_ROW_ENTRY
    "    beq 5f\n"
    "1:\n"
    EMB_DW3_COL2("r6", "r7", "r8", "r9")
    EMB_DW3_SLOT("r4", "r5", "r6", "r7", "r8", "r9")
    "    subs r3, r3, #1\n"
    "    beq 6f\n"
    EMB_DW3_COL2("r6", "r7", "r4", "r5")
    EMB_DW3_SLOT("r8", "r9", "r6", "r7", "r4", "r5")
    "    subs r3, r3, #1\n"
    "    bne 1b\n"
    "5:\n"
    EMB_DW3_COL("r6", "r7")
    EMB_DW3_COL_IF("r8", "r9", "2")
    EMB_DW3_SLOT("r4", "r5", "r6", "r7", "r8", "r9")
    "    pop {r4-r11, pc}\n"
    "6:\n"
    EMB_DW3_COL("r6", "r7")
    EMB_DW3_COL_IF("r4", "r5", "2")
    EMB_DW3_SLOT("r8", "r9", "r6", "r7", "r4", "r5")
    "    pop {r4-r11, pc}\n"
    EMB_ASM_END("emb_dsp_dw3_row_s2"));
#undef EMB_DW3_ROW_ENTRY
#undef EMB_DW3_COL
#undef EMB_DW3_COL2
#undef EMB_DW3_COL_IF
#undef EMB_DW3_SLOT
#define dw3_row_s1 emb_dsp_dw3_row_s1
#define dw3_row_s2 emb_dsp_dw3_row_s2
#endif

/* dw3_block's loop over the output rows of a column segment whose input rows come straight
 * from the input (dw3_row_s1 / _s2: fill) or lie in the padding (dw3_slots of zero columns):
 * per output row, the next 3 (first row) or stride_h input rows go round the ring (rows 0, 1,
 * 2 from k.x on, DW3_ROW bytes apart; for stride_h > 3 the rows before the window are filled
 * too, and overwritten), then run with k.wt = wk + 6 (2 - b) (wk: kernel rows k1 k2 k0 k1
 * k2; b the buffer row of the window's first row). */
typedef struct {
    dw3_ctx k;                   /* 0: x = ring row 0; wt, o, o_end set per output row */
    const int8_t *in;            /* 36 */
    int32_t src, next, in_h;     /* 40, 44, 48: the next input row (offset from in, column */
                                 /* lo; read only inside the image), its index, rows */
    int32_t row, c, n;           /* 52, 56, 60: input row bytes, C, slots */
    int32_t zp2, flags;          /* 64, 68: fill's */
    const int32_t *wk;           /* 72 */
    int32_t o_row, o_len;        /* 76, 80: output row bytes, a segment row's bytes */
    int32_t rows, stride;        /* 84, 88: output rows (>= 1), stride_h */
    void (*fill)(const int8_t *, int32_t, int32_t *, int32_t, int32_t, int32_t);   /* 92 */
    void (*run)(const dw3_ctx *);   /* 96 */
    const int32_t *zero;         /* 100: zero columns for dw3_slots */
    int32_t s8;                  /* 104: 8 * stride_w */
} dw3_rows_ctx;
#if defined(EMB_ACLE_EMULATED)
static void dw3_rows(dw3_rows_ctx *s)
{
    int32_t *ring = (int32_t *)s->k.x, b = 0, fills = 3;
    for (int32_t r = 0; r < s->rows; r++, s->k.o += s->o_row, fills = s->stride) {
        for (; fills > 0; fills--, s->next++, s->src += s->row) {
            int32_t *slot = ring + b * (DW3_ROW / 4);
            if ((uint32_t)s->next >= (uint32_t)s->in_h) dw3_slots(s->zero, slot, s->n, s->s8);
            else s->fill(s->in + s->src, s->c, slot, s->n, s->zp2, s->flags);
            b = b == 2 ? 0 : b + 1;
        }
        s->k.wt = s->wk + 6 * (2 - b);
        s->k.o_end = s->k.o + s->o_len;
        s->run(&s->k);
    }
}
#else
/* The ctx in r4; r5 the ring row to fill, r6 wt (wk + 6 (2 - b)), r7 the input row, r8 its
 * index, r9 the rows left to fill, r10 the output rows left, r11 o; fill's stack arguments
 * (zp2, flags) at [sp] once. */
void emb_dsp_dw3_rows(dw3_rows_ctx *s);
typedef char emb_dw3_rows_match_asm[offsetof(dw3_rows_ctx, in) == 36 &&
                                    offsetof(dw3_rows_ctx, s8) == 104 ? 1 : -1];
__asm__(
    EMB_ASM_BEGIN("emb_dsp_dw3_rows")
    "    push {r4-r11, lr}\n"
    "    sub sp, sp, #12\n"
    "    mov r4, r0\n"
    "    ldrd r0, r1, [r4, #64]\n"               /* zp2, flags */
    "    strd r0, r1, [sp]\n"
    "    ldr r5, [r4]\n"                          /* k.x */
    "    ldr r6, [r4, #72]\n"
    "    adds r6, r6, #48\n"                     /* b 0 */
    "    ldrd r0, r7, [r4, #36]\n"               /* in, src */
    "    add r7, r7, r0\n"
    "    ldr r8, [r4, #44]\n"                    /* next */
    "    movs r9, #3\n"
    "    ldr r10, [r4, #84]\n"                   /* rows */
    "    ldr r11, [r4, #12]\n"                   /* k.o */
    "1:  ldr r0, [r4, #48]\n"                    /* in_h */
    "    cmp r8, r0\n"
    "    bhs 4f\n"                               /* a row in the padding (unsigned) */
    "    mov r0, r7\n"
    "    ldrd r1, r3, [r4, #56]\n"               /* c, n */
    "    mov r2, r5\n"
    "    ldr ip, [r4, #92]\n"                    /* fill */
    "    blx ip\n"
    "2:  ldr r0, [r4, #52]\n"                    /* row */
    "    add r7, r7, r0\n"
    "    adds r8, r8, #1\n"
    "    addw r5, r5, #" DW3_ROW_S "\n"
    "    subs r6, r6, #24\n"
    "    ldr r0, [r4, #72]\n"                    /* wk: below it, b wraps to 0 */
    "    cmp r6, r0\n"
    "    itt lo\n"
    "    addlo r6, r6, #72\n"
    "    sublo r5, r5, #(3 * " DW3_ROW_S ")\n"
    "    subs r9, r9, #1\n"
    "    bne 1b\n"
    "    ldr r0, [r4, #80]\n"                    /* o_len */
    "    add r0, r0, r11\n"
    "    str r6, [r4, #4]\n"                     /* k.wt */
    "    str r11, [r4, #12]\n"                   /* k.o */
    "    str r0, [r4, #20]\n"                    /* k.o_end */
    "    mov r0, r4\n"
    "    ldr ip, [r4, #96]\n"                    /* run */
    "    blx ip\n"
    "    ldr r0, [r4, #76]\n"                    /* o_row */
    "    add r11, r11, r0\n"
    "    ldr r9, [r4, #88]\n"                    /* stride */
    "    subs r10, r10, #1\n"
    "    bne 1b\n"
    "    add sp, sp, #12\n"
    "    pop {r4-r11, pc}\n"
    "4:  ldr r0, [r4, #100]\n"                   /* zero */
    "    mov r1, r5\n"
    "    ldr r2, [r4, #60]\n"                    /* n */
    "    ldr r3, [r4, #104]\n"                   /* s8 */
    "    bl emb_dsp_dw3_slots\n"
    "    b 2b\n"
    EMB_ASM_END("emb_dsp_dw3_rows"));
#define dw3_rows emb_dsp_dw3_rows
#endif

/* Pointwise / small-window conv with int16 weights (pack_weights' "w16" layout): per output
 * channel pair, per group of 4 input channels, 4 words: oc0 (c0, c2), oc0 (c1, c3),
 * oc1 (c0, c2), oc1 (c1, c3), i.e. the SXTB16 split done offline. The pixel pair is widened
 * once (widen2 below: xb[4g..4g+3] = p0 (c0, c2), p0 (c1, c3), p1 (c0, c2), p1 (c1, c3), x - zp),
 * so one step of 4 input channels x 2 pixels x 2 channels is LDM, LDM, 8 SMLAD (10
 * instructions, 16 MACs). Fixed byte offsets for the Thumb-2 routine below. */
typedef struct {
    const int32_t *tbl;          /* 0: per channel pair (w16_table): b0 b1 b0 b1, then per */
                                 /* channel klo khi m klo khi e1; the run ends at the pair */
                                 /* whose second e1 has W16_LAST set */
    int8_t *o;                   /* 4: output of pixel 0, first channel of the chunk */
    int32_t o_step;              /* 8: bytes from pixel 0's outputs to pixel 1's (0: one pixel) */
    uint32_t hi4, lo4;           /* 12, 16: act_max - act_min, act_min per byte */
    int32_t *xb;                 /* 20: widened pixel pair */
    int32_t back;                /* 24: 10 * k (bytes of unrolled steps before the end label) */
    int pos;                     /* 28: rq_mode: 0, 1 (emb_rq_pos_ok), 2 (and full range); */
                                 /* 3: 2 in the S form, 4: 0 in the signed S form */
                                 /* (w16_table) */
    /* w16_run runs m pixel pairs, pair i widened (w16_widen) from src + 2 * i * step into xb
     * first unless rows == 0 (then xb is the caller's one pair, m 1), outputs at
     * o + 2 * i * o_step; src, o and m are used up. */
    const int8_t *src;           /* 32 */
    int32_t step, row_step;      /* 36, 40 */
    int32_t rows, groups, zp2;   /* 44, 48, 52 */
    int32_t m;                   /* 56 */
} w16_ctx;
/* A flag above the shift e1 (0..30; ASR by a register reads its low byte only); table
 * words per channel (2 biases, 6 constants: klo and khi twice, so one LDM serves both
 * lanes). */
enum { W16_LAST = 256, W16_TBL = 8 };
/* The S form (w16_exp in emb_conv2d.c): the fixed final shift, table words per channel pair
 * (4 scaled biases, m0 R0 m1 R1, the W16_LAST word); the signed S form's (m0 R0 H0 m1 R1 H1). */
enum { W16_S = 11, W16_TBL_S = 9, W16_TBL_SN = 11 };
#define W16_S_S "11"
typedef char emb_w16_s_matches_asm[W16_S == 11 ? 1 : -1];
#define W16_LAST_S "256"
typedef char emb_w16_last_matches_asm[W16_LAST == 256 ? 1 : -1];
enum { W16_K_MAX = 384 };        /* input channels (k) per pixel: 96 unrolled steps */
#define W16_STEPS_S "96"            /* W16_K_MAX / 4, for the assembler */
#define W16_BLOCK_S "3840"          /* their bytes (40 a step) */
typedef char emb_w16_steps_match_asm[W16_K_MAX == 96 * 4 && 96 * 40 == 3840 ? 1 : -1];

/* a[0..3] (p0 oc0, p0 oc1, p1 oc0, p1 oc1) += widened pair xb . channel pair w over k. */
static inline void w16_acc(const int32_t *xb, const int8_t *w, int32_t k, int32_t a[4])
{
    for (int32_t g = 0; g < k; g += 4, xb += 4, w += 16) {
        const int32_t w0 = emb_rd4(w), w1 = emb_rd4(w + 4), w2 = emb_rd4(w + 8),
                      w3 = emb_rd4(w + 12);
        a[0] = __smlad(xb[1], w1, __smlad(xb[0], w0, a[0]));
        a[1] = __smlad(xb[1], w3, __smlad(xb[0], w2, a[1]));
        a[2] = __smlad(xb[3], w1, __smlad(xb[2], w0, a[2]));
        a[3] = __smlad(xb[3], w3, __smlad(xb[2], w2, a[3]));
    }
}

/* The widened pair for w16_run from `rows` runs of 4 * groups bytes (row_step apart) of pixel
 * 0 at x0 and pixel 1 at x0 + off: per group LDR, LDR, 4 SXTAB16, STM. */
#if defined(EMB_ACLE_EMULATED)
static void w16_widen(const int8_t *x0, int32_t off, int32_t row_step, int32_t rows,
                      int32_t groups, int32_t *xb, int32_t zp2)
{
    for (; rows > 0; rows--, x0 += row_step) {
        for (int32_t g = 0; g < groups; g++, xb += 4) {
            const int32_t u = emb_rd4(x0 + 4 * g), v = emb_rd4(x0 + off + 4 * g);
            xb[0] = __sxtab16(zp2, u);
            xb[1] = emb_sxtab16_odd(zp2, u);
            xb[2] = __sxtab16(zp2, v);
            xb[3] = emb_sxtab16_odd(zp2, v);
        }
    }
}
#else
void emb_dsp_w16_widen(const int8_t *x0, int32_t off, int32_t row_step, int32_t rows,
                       int32_t groups, int32_t *xb, int32_t zp2);
__asm__(
    EMB_ASM_BEGIN("emb_dsp_w16_widen")
    "    push {r4-r10, lr}\n"
    "    ldrd r4, r5, [sp, #32]\n"                /* groups, xb */
    "    ldr r6, [sp, #40]\n"                     /* zp2 */
    "1:  mov ip, r0\n"
    "    mov lr, r4\n"
    "2:  ldr r9, [ip, r1]\n"
    "    ldr r8, [ip], #4\n"
    "    sxtab16 r7, r6, r8\n"
    "    sxtab16 r8, r6, r8, ror #8\n"
    "    sxtab16 r10, r6, r9, ror #8\n"
    "    sxtab16 r9, r6, r9\n"
    "    stm r5!, {r7-r10}\n"
    "    subs lr, lr, #1\n"
    "    bne 2b\n"
    "    add r0, r0, r2\n"
    "    subs r3, r3, #1\n"
    "    bne 1b\n"
    "    pop {r4-r10, pc}\n"
    EMB_ASM_END("emb_dsp_w16_widen"));
#define w16_widen emb_dsp_w16_widen
#endif

#if defined(EMB_ACLE_EMULATED)
/* One lane of w16_run as a byte: form 1 USAT (minus act_min), else SSAT (the output). */
static inline uint32_t w16_lane(int32_t a, const int32_t *t, int32_t ch, int pos)
{
    int32_t v;
    if (pos >= 3) {   /* S forms: m, R (, H) at t[4 + 2 ch] (t[4 + 3 ch]); SMMLA, minus H */
        const int32_t *c = t + 4 + (pos == 4 ? 3 : 2) * ch;   /* for a < 0, ASR #W16_S */
        v = (int32_t)(((int64_t)a * c[0] + (int64_t)c[1] * 4294967296LL) >> 32);
        v = (pos == 4 && a < 0 ? v - c[2] : v) >> W16_S;
    } else {          /* klo, khi, m, klo, khi, e1 at t[4 + 6 ch] */
        const int32_t *c = t + 4 + 6 * ch;
        const int32_t e1 = c[5] & (W16_LAST - 1);
        v = pos ? emb_rq_apply_pos(a, c[2], c[0], c[1], e1)
                : emb_rq_apply(a, c[2], c[0], c[1], e1);
    }
    return pos != 1 ? (uint32_t)__ssat(v, 8) & 0xFFu : __usat(v, 8);
}

static void w16_run(w16_ctx *k, const int8_t *w0)
{
    const int32_t n = k->back / 10, full = k->pos != 1;
    const int32_t stride = k->pos == 4 ? W16_TBL_SN : k->pos == 3 ? W16_TBL_S : 2 * W16_TBL;
    const int32_t last = stride == 2 * W16_TBL ? 15 : stride - 1;   /* the W16_LAST word */
    for (; k->m > 0; k->m--, k->src += 2 * k->step, k->o += 2 * k->o_step) {
        if (k->rows > 0)
            w16_widen(k->src, k->step, k->row_step, k->rows, k->groups, k->xb, k->zp2);
        int8_t *o = k->o;
        const int8_t *w = w0;
        for (const int32_t *t = k->tbl;; t += stride, o += 2, w += 4 * n) {
            int32_t a[4] = {t[0], t[1], t[2], t[3]};
            w16_acc(k->xb, w, n, a);
            uint32_t u = w16_lane(a[0], t, 0, k->pos) | w16_lane(a[1], t, 1, k->pos) << 8 |
                         w16_lane(a[2], t, 0, k->pos) << 16 | w16_lane(a[3], t, 1, k->pos) << 24;
            if (!full) u = __uadd8(__usub8(k->hi4, __uqsub8(k->hi4, u)), k->lo4);
            emb_wr2(o + k->o_step, u >> 16);
            emb_wr2(o, u);
            if (t[last] & W16_LAST) break;
        }
    }
}
#else
/* w16_run: per pixel pair (widened first when rows > 0, the loop of w16_widen inlined),
 * every channel pair of the chunk. The k / 4 steps are entered Duff-style (back bytes before
 * label 9, 40 bytes per step: no loop counter, which the 14 live registers leave no room
 * for), then the requantization with the constants of w16_table (zero point and act_min
 * folded in: 6 instructions a lane), the act_max clamp on 4 lanes at once and two halfword
 * stores, up to the pair flagged W16_LAST (TST of its e1 register: nothing after it sets
 * the flags). [sp]: a copy of the ctx's first 8 words (tbl and o advance), [sp, #32] the
 * ctx (src, o, m advance), [sp, #36] w. */
void emb_dsp_w16_run(w16_ctx *k, const int8_t *w);
#define EMB_W16_STEP                                                                        \
    "    ldm.w r0!, {r8-r11}\n"                                                              \
    "    ldm.w r1!, {r2, r3, r12, lr}\n"                                                     \
    "    smlad r4, r8, r2, r4\n"                                                             \
    "    smlad r4, r9, r3, r4\n"                                                             \
    "    smlad r5, r8, r12, r5\n"                                                            \
    "    smlad r5, r9, lr, r5\n"                                                             \
    "    smlad r6, r10, r2, r6\n"                                                            \
    "    smlad r6, r11, r3, r6\n"                                                            \
    "    smlad r7, r10, r12, r7\n"                                                           \
    "    smlad r7, r11, lr, r7\n"
/* Lanes a (pixel 1) and b (pixel 0) of one channel: constants klo, khi in r0, r3 and
 * r9, r10, m in r8, e1 in r11 (one LDM). */
#define EMB_W16_RQ2(a, b)                                                                   \
    "    ldm r2!, {r0, r3, r8-r11}\n"                                                        \
    "    asr ip, " a ", #31\n"                                                               \
    "    adds r0, r0, ip, lsl #31\n"                                                         \
    "    adc r3, r3, ip\n"                                                                   \
    "    smlal r0, r3, " a ", r8\n"                                                          \
    "    asr " a ", r3, r11\n"                                                               \
    "    ssat " a ", #8, " a "\n"                                                            \
    "    asr ip, " b ", #31\n"                                                               \
    "    adds r9, r9, ip, lsl #31\n"                                                         \
    "    adc r10, r10, ip\n"                                                                 \
    "    smlal r9, r10, " b ", r8\n"                                                         \
    "    asr " b ", r10, r11\n"                                                              \
    "    ssat " b ", #8, " b "\n"
/* The same without the sign terms (emb_rq_pos_ok), saturated by SAT: usat (value - act_min
 * as uint8) or, for the whole int8 range, ssat (the output). */
#define EMB_W16_RQ2_POS(a, b, SAT)                                                          \
    "    ldm r2!, {r0, r3, r8-r11}\n"                                                        \
    "    smlal r0, r3, " a ", r8\n"                                                          \
    "    asr " a ", r3, r11\n"                                                               \
    "    " SAT " " a ", #8, " a "\n"                                                         \
    "    smlal r9, r10, " b ", r8\n"                                                         \
    "    asr " b ", r10, r11\n"                                                              \
    "    " SAT " " b ", #8, " b "\n"
#define EMB_W16_RQ2_USAT(a, b) EMB_W16_RQ2_POS(a, b, "usat")
#define EMB_W16_RQ2_SSAT(a, b) EMB_W16_RQ2_POS(a, b, "ssat")
#define EMB_W16_CLAMP                                                                       \
    "    ldrd r10, r11, [sp, #12]\n"              /* hi4, lo4 */                            \
    "    uqsub8 ip, r10, r4\n"                                                              \
    "    usub8 r4, r10, ip\n"                                                               \
    "    uadd8 r4, r4, r11\n"
/* The 4 lanes (pixel 0: r4, r5; pixel 1: r6, r7; value - act_min as uint8) clamped and
 * stored as 2 halfwords at o (r8 advances) and o + o_step; nothing here sets the flags.
 * _FULL: the lanes are already int8 (SSAT: forms 0, 2, 3), two BFI. */
#define EMB_W16_STORE                                                                       \
    "    orr r4, r4, r5, lsl #8\n"                                                          \
    "    orr r6, r6, r7, lsl #8\n"                                                          \
    "    orr r4, r4, r6, lsl #16\n"                                                         \
    "    ldrd r8, r9, [sp, #4]\n"                 /* o, o_step */                           \
    EMB_W16_CLAMP                                                                           \
    "    lsr r5, r4, #16\n"                                                                 \
    "    strh r5, [r8, r9]\n"                                                               \
    "    strh r4, [r8], #2\n"
#define EMB_W16_STORE_FULL                                                                  \
    "    bfi r4, r5, #8, #8\n"                     /* the lanes are SSAT's int8 outputs */ \
    "    bfi r6, r7, #8, #8\n"                                                              \
    "    ldrd r8, r9, [sp, #4]\n"                 /* o, o_step */                           \
    "    strh r6, [r8, r9]\n"                      /* STRH stores the low half */          \
    "    strh r4, [r8], #2\n"
#define EMB_W16_FN(name, RQ, STORE)                                                        \
    __asm__(                                                                                \
    EMB_ASM_BEGIN(name)                                                                     \
    "    push {r4-r11, lr}\n"                                                               \
    "    push {r0, r1}\n"                                                                   \
    "    ldm r0, {r2-r9}\n"                                                                 \
    "    push {r2-r9}\n"                          /* [sp]: a copy of the ctx */             \
    "    adr.w r0, 4f\n"                          /* the first step */                     \
    "    add r0, r0, #" W16_BLOCK_S "\n"                                                    \
    "    sub r0, r0, r8\n"                                                                  \
    "    orr r0, r0, #1\n"                                                                  \
    "    str r0, [sp, #24]\n"                     /* back -> entry address */               \
    "5:  ldr r0, [sp, #32]\n"                     /* next pixel pair */                     \
    "    ldrd r3, r4, [r0, #40]\n"                /* row_step, rows */                      \
    "    cbz r4, 8f\n"                                                                      \
    "    ldrd r1, r2, [r0, #32]\n"                /* src, step */                           \
    "    ldrd r11, r6, [r0, #48]\n"               /* groups, zp2 */                         \
    "    ldr r5, [sp, #20]\n"                     /* xb */                                  \
    "    add r7, r1, r2, lsl #1\n"                                                          \
    "    str r7, [r0, #32]\n"                     /* src of the next pair */                \
    "6:  mov ip, r1\n"                                                                      \
    "    mov lr, r11\n"                                                                     \
    "7:  ldr r9, [ip, r2]\n"                                                                \
    "    ldr r8, [ip], #4\n"                                                                \
    "    sxtab16 r7, r6, r8\n"                                                              \
    "    sxtab16 r8, r6, r8, ror #8\n"                                                      \
    "    sxtab16 r10, r6, r9, ror #8\n"                                                     \
    "    sxtab16 r9, r6, r9\n"                                                              \
    "    stm r5!, {r7-r10}\n"                                                               \
    "    subs lr, lr, #1\n"                                                                 \
    "    bne 7b\n"                                                                          \
    "    add r1, r1, r3\n"                                                                  \
    "    subs r4, r4, #1\n"                                                                 \
    "    bne 6b\n"                                                                          \
    "8:  ldrd r3, r4, [r0, #4]\n"                 /* o, o_step */                           \
    "    str r3, [sp, #4]\n"                                                                \
    "    add r3, r3, r4, lsl #1\n"                                                          \
    "    str r3, [r0, #4]\n"                      /* o of the next pair */                  \
    "    ldr r2, [r0]\n"                          /* tbl */                                 \
    "    ldr r1, [sp, #36]\n"                     /* w */                                   \
    "1:  ldm r2!, {r4-r7}\n"                      /* biases */                              \
    "    str r2, [sp]\n"                                                                    \
    "    ldrd r0, ip, [sp, #20]\n"                /* xb, entry */                           \
    "    bx ip\n"                                                                           \
    "4:  .rept " W16_STEPS_S "\n"                                                         \
    EMB_W16_STEP                                                                            \
    "    .endr\n"                                                                           \
    "9:  ldr r2, [sp]\n"                                                                    \
    RQ                                                                                      \
    STORE                                                                                   \
    "    str r8, [sp, #4]\n"                                                                \
    "    beq 1b\n"                                                                          \
    "    ldr r0, [sp, #32]\n"                                                               \
    "    ldr r3, [r0, #56]\n"                                                               \
    "    subs r3, r3, #1\n"                                                                 \
    "    str r3, [r0, #56]\n"                                                               \
    "    bne 5b\n"                                                                          \
    "    add sp, sp, #40\n"                                                                 \
    "    pop {r4-r11, pc}\n"                                                                \
    EMB_ASM_END(name));
void emb_dsp_w16_run_pos(w16_ctx *k, const int8_t *w);
void emb_dsp_w16_run_pos_full(w16_ctx *k, const int8_t *w);
/* Both channels of a pair, then the last-pair test (Z clear). */
#define EMB_W16_RQ(RQ2)                                                                     \
    RQ2("r6", "r4")                                                                         \
    RQ2("r7", "r5")                                                                         \
    "    tst r11, #" W16_LAST_S "\n"
/* The S form: m0 R0 m1 R1 and the W16_LAST word in one LDM; per lane SMMLA, then SSAT with
 * ASR #W16_S. */
#define EMB_W16_RQ_S                                                                        \
    "    ldm r2!, {r0, r3, r8-r10}\n"                                                        \
    "    smmla r4, r4, r0, r3\n"                                                             \
    "    smmla r6, r6, r0, r3\n"                                                             \
    "    smmla r5, r5, r8, r9\n"                                                             \
    "    smmla r7, r7, r8, r9\n"                                                             \
    "    ssat r4, #8, r4, asr #" W16_S_S "\n"                                                \
    "    ssat r6, #8, r6, asr #" W16_S_S "\n"                                                \
    "    ssat r5, #8, r5, asr #" W16_S_S "\n"                                                \
    "    ssat r7, #8, r7, asr #" W16_S_S "\n"                                                \
    "    tst r10, #" W16_LAST_S "\n"
/* The signed S form: m0 R0 H0 m1 R1 H1 and the W16_LAST word in one LDM; per lane SMMLA
 * minus H for a < 0 (AND with the sign), then SSAT with ASR #W16_S. */
#define EMB_W16_RQ_SN_LANE(a, m, r, h)                                                      \
    "    and ip, " h ", " a ", asr #31\n"                                                      \
    "    smmla " a ", " a ", " m ", " r "\n"                                                    \
    "    sub " a ", " a ", ip\n"                                                               \
    "    ssat " a ", #8, " a ", asr #" W16_S_S "\n"
#define EMB_W16_RQ_SN                                                                       \
    "    ldm r2!, {r0, r3, r8-r11, lr}\n"                                                    \
    EMB_W16_RQ_SN_LANE("r4", "r0", "r3", "r8")                                              \
    EMB_W16_RQ_SN_LANE("r6", "r0", "r3", "r8")                                              \
    EMB_W16_RQ_SN_LANE("r5", "r9", "r10", "r11")                                            \
    EMB_W16_RQ_SN_LANE("r7", "r9", "r10", "r11")                                            \
    "    tst lr, #" W16_LAST_S "\n"
void emb_dsp_w16_run_s_full(w16_ctx *k, const int8_t *w);
void emb_dsp_w16_run_sn_full(w16_ctx *k, const int8_t *w);
EMB_W16_FN("emb_dsp_w16_run", EMB_W16_RQ(EMB_W16_RQ2), EMB_W16_STORE_FULL)
EMB_W16_FN("emb_dsp_w16_run_pos", EMB_W16_RQ(EMB_W16_RQ2_USAT), EMB_W16_STORE)
EMB_W16_FN("emb_dsp_w16_run_pos_full", EMB_W16_RQ(EMB_W16_RQ2_SSAT), EMB_W16_STORE_FULL)
EMB_W16_FN("emb_dsp_w16_run_s_full", EMB_W16_RQ_S, EMB_W16_STORE_FULL)
EMB_W16_FN("emb_dsp_w16_run_sn_full", EMB_W16_RQ_SN, EMB_W16_STORE_FULL)
#undef EMB_W16_FN
#undef EMB_W16_RQ2
#undef EMB_W16_RQ2_POS
#undef EMB_W16_RQ2_USAT
#undef EMB_W16_RQ2_SSAT
#undef EMB_W16_RQ
#undef EMB_W16_RQ_S
#undef EMB_W16_RQ_SN
#undef EMB_W16_RQ_SN_LANE
#undef EMB_W16_CLAMP
#undef EMB_W16_STORE
#undef EMB_W16_STORE_FULL
#undef EMB_CLAMP_FULL
#undef EMB_W16_STEP
static void (*const w16_runs[5])(w16_ctx *, const int8_t *) = {
    emb_dsp_w16_run, emb_dsp_w16_run_pos, emb_dsp_w16_run_pos_full, emb_dsp_w16_run_s_full,
    emb_dsp_w16_run_sn_full};
#define w16_run(k, w) w16_runs[(k)->pos](k, w)
#endif

#endif
