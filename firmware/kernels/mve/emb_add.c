/* add for Cortex-M55 (Helium): OPS.md add, 4 lanes per step (int8 widened to int32 by the
 * load), each input rescaled with MBQM, the sum requantized. Without MBQM left shifts
 * (every shift <= 0: the usual case) a hand-written tail-predicated loop keeps every
 * constant in a register (6 instructions an element); else the intrinsics loop. */
#include <stddef.h>
#include "emb_kernels.h"
#include "emb_kernels_internal.h"
#include "emb_mve.h"

typedef struct {
    const int8_t *a, *b;          /* 0, 4 */
    int8_t *o;                    /* 8 */
    int32_t n;                    /* 12: elements */
    int32_t a_zp, b_zp, left, zp; /* 16..28: input zero points, left_shift, out_zp */
    int32_t ma, mb, mo;           /* 32..40: VQRDMULH multipliers */
    int32_t ra, rb, ro;           /* 44..52: VRSHL shifts (the shifts, <= 0) */
    int32_t pad_[2];
    int32_t fa[4], fb[4], fo[4];  /* 64, 80, 96: VSHL of the rounding fix-up: -31 (x < 0
                                     -> -1) where the right shift is > 0, else 32 (-> 0) */
    int32_t lo[4], hi[4];         /* 112, 128: act_min, act_max */
} add_ctx;
_Static_assert(offsetof(add_ctx, ra) == 44 && offsetof(add_ctx, fa) == 64 &&
               offsetof(add_ctx, hi) == 128, "emb_mve_add_run offsets");

/* x = RoundingDivideByPOT(VQRDMULH(...)): VQRDMULH never returns INT32_MIN, fix-up as in
 * emb_mve_mbqm with the mask folded into a per-lane VSHL amount. */
void emb_mve_add_run(const add_ctx *k);
__asm__(
    EMB_ASM_BEGIN("emb_mve_add_run")
    "    push {r4-r11, lr}\n"
    "    vpush {d8-d15}\n"
    "    vldrw.32 q3, [r0, #64]\n"
    "    vldrw.32 q4, [r0, #80]\n"
    "    vldrw.32 q5, [r0, #96]\n"
    "    vldrw.32 q6, [r0, #112]\n"
    "    vldrw.32 q7, [r0, #128]\n"
    "    ldrd r1, r2, [r0, #0]\n"
    "    ldrd r3, lr, [r0, #8]\n"
    "    ldrd r4, r5, [r0, #16]\n"
    "    ldrd r6, r7, [r0, #24]\n"
    "    ldrd r8, r9, [r0, #32]\n"
    "    ldrd r10, r11, [r0, #40]\n"
    "    ldr r12, [r0, #48]\n"
    "    ldr r0, [r0, #52]\n"
    "    dlstp.32 lr, lr\n"
    "1:  vldrb.s32 q0, [r1], #4\n"
    "    vldrb.s32 q1, [r2], #4\n"
    "    vsub.i32 q0, q0, r4\n"
    "    vsub.i32 q1, q1, r5\n"
    "    vshl.s32 q0, r6\n"
    "    vshl.s32 q1, r6\n"
    "    vqrdmulh.s32 q0, q0, r8\n"
    "    vqrdmulh.s32 q1, q1, r9\n"
    "    vshl.s32 q2, q0, q3\n"
    "    vqadd.s32 q0, q0, q2\n"
    "    vshl.s32 q2, q1, q4\n"
    "    vqadd.s32 q1, q1, q2\n"
    "    vrshl.s32 q0, r11\n"
    "    vrshl.s32 q1, r12\n"
    "    vadd.i32 q0, q0, q1\n"
    "    vqrdmulh.s32 q0, q0, r10\n"
    "    vshl.s32 q2, q0, q5\n"
    "    vqadd.s32 q0, q0, q2\n"
    "    vrshl.s32 q0, r0\n"
    "    vadd.i32 q0, q0, r7\n"
    "    vmax.s32 q0, q0, q6\n"
    "    vmin.s32 q0, q0, q7\n"
    "    vstrb.32 q0, [r3], #4\n"
    "    letp lr, 1b\n"
    "    vpop {d8-d15}\n"
    "    pop {r4-r11, pc}\n"
    EMB_ASM_END("emb_mve_add_run"));

void emb_add_s8(int32_t size, const int8_t *a, const int8_t *b, int32_t a_zp, int32_t b_zp,
                int32_t out_zp, int32_t left_shift, const int32_t m[3], const int32_t s[3],
                int32_t act_min, int32_t act_max, int8_t *out)
{
    if (size <= 0) return;
    if (s[0] <= 0 && s[1] <= 0 && s[2] <= 0) {
        add_ctx k = {a, b, out, size, a_zp, b_zp, left_shift, out_zp, m[0], m[1], m[2],
                     s[0], s[1], s[2], {0}, {0}, {0}, {0}, {0}, {0}};
        vstrwq_s32(k.fa, vdupq_n_s32(s[0] < 0 ? -31 : 32));
        vstrwq_s32(k.fb, vdupq_n_s32(s[1] < 0 ? -31 : 32));
        vstrwq_s32(k.fo, vdupq_n_s32(s[2] < 0 ? -31 : 32));
        vstrwq_s32(k.lo, vdupq_n_s32(act_min));
        vstrwq_s32(k.hi, vdupq_n_s32(act_max));
        emb_mve_add_run(&k);
        return;
    }
    const emb_mve_rq ra = emb_mve_rq_vec(vdupq_n_s32(m[0]), vdupq_n_s32(s[0]));
    const emb_mve_rq rb = emb_mve_rq_vec(vdupq_n_s32(m[1]), vdupq_n_s32(s[1]));
    const emb_mve_rq ro = emb_mve_rq_vec(vdupq_n_s32(m[2]), vdupq_n_s32(s[2]));
    for (int32_t i = 0; i < size; i += 4) {
        const mve_pred16_t p = vctp32q((uint32_t)(size - i));
        const int32x4_t x = vshlq_r_s32(vsubq_n_s32(vldrbq_z_s32(a + i, p), a_zp), left_shift);
        const int32x4_t y = vshlq_r_s32(vsubq_n_s32(vldrbq_z_s32(b + i, p), b_zp), left_shift);
        const int32x4_t sum = vaddq_s32(emb_mve_mbqm(x, ra), emb_mve_mbqm(y, rb));
        vstrbq_p_s32(out + i, emb_mve_requant(sum, ro, out_zp, act_min, act_max), p);
    }
}
