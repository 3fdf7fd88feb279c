/* Host emulation of the ACLE DSP intrinsics used by firmware/kernels/dsp/, so that their
 * logic builds and runs under ASan/UBSan on the host. Semantics: Arm ARM (SXTB16, SXTAB16,
 * SMLAD, SMLABB, SMLATT, USAT, UQSUB8, UADD8, USUB8); 16-bit lanes wrap, 32-bit accumulation wraps. */
#ifndef EMB_ACLE_EMUL_H
#define EMB_ACLE_EMUL_H
#include <stdint.h>

#define EMB_ACLE_EMULATED 1
typedef int32_t int8x4_t;
typedef int32_t int16x2_t;

static inline int32_t emul_lo16(int32_t v) { return (int16_t)(uint16_t)((uint32_t)v & 0xFFFFu); }
static inline int32_t emul_hi16(int32_t v) { return (int16_t)(uint16_t)((uint32_t)v >> 16); }
static inline int32_t emul_byte(int32_t v, int i) { return (int8_t)(uint8_t)((uint32_t)v >> (8 * i)); }
static inline int32_t emul_pack16(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)hi << 16) | ((uint32_t)lo & 0xFFFFu));
}

static inline int16x2_t __sxtb16(int8x4_t a) { return emul_pack16(emul_byte(a, 0), emul_byte(a, 2)); }

static inline int16x2_t __sxtab16(int16x2_t a, int8x4_t b)
{
    return emul_pack16(emul_lo16(a) + emul_byte(b, 0), emul_hi16(a) + emul_byte(b, 2));
}

static inline int32_t emul_add32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

static inline int32_t __smlad(int16x2_t a, int16x2_t b, int32_t c)
{
    return emul_add32(emul_add32(c, emul_lo16(a) * emul_lo16(b)), emul_hi16(a) * emul_hi16(b));
}

static inline int32_t __smlabb(int32_t a, int32_t b, int32_t c) { return emul_add32(c, emul_lo16(a) * emul_lo16(b)); }
static inline int32_t __smlatt(int32_t a, int32_t b, int32_t c) { return emul_add32(c, emul_hi16(a) * emul_hi16(b)); }

/* SAT / SIMD32 subset: USAT, SSAT, UQSUB8, UADD8, USUB8 (GE flags not modelled). */
static inline uint32_t __usat(int32_t x, uint32_t n)
{
    const int32_t hi = (int32_t)((1u << n) - 1u);
    return (uint32_t)(x < 0 ? 0 : (x > hi ? hi : x));
}

static inline int32_t __ssat(int32_t x, uint32_t n)
{
    const int32_t hi = (int32_t)((1u << (n - 1)) - 1u);
    return x < -hi - 1 ? -hi - 1 : (x > hi ? hi : x);
}

static inline uint32_t emul_bytes(uint32_t a, uint32_t b, int op)
{
    uint32_t r = 0;
    for (int i = 0; i < 32; i += 8) {
        int32_t x = (int32_t)((a >> i) & 0xFFu), y = (int32_t)((b >> i) & 0xFFu);
        int32_t v = op == 0 ? (x - y < 0 ? 0 : x - y) : (op == 1 ? x + y : x - y);
        r |= ((uint32_t)v & 0xFFu) << i;
    }
    return r;
}
static inline uint32_t __uqsub8(uint32_t a, uint32_t b) { return emul_bytes(a, b, 0); }
static inline uint32_t __uadd8(uint32_t a, uint32_t b) { return emul_bytes(a, b, 1); }
static inline uint32_t __usub8(uint32_t a, uint32_t b) { return emul_bytes(a, b, 2); }
#endif
