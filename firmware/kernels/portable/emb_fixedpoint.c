/* Out-of-line MultiplyByQuantizedMultiplier (OPS.md). */
#include "emb_kernels.h"
#include "emb_fixedpoint.h"

int32_t emb_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    return emb_mbqm_inl(x, multiplier, shift);
}
