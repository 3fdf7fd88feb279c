/* 256-entry table lookup (h-swish, sigmoid, ...); in and out may alias. */
#include "emb_kernels.h"

void emb_lut_s8(int32_t size, const int8_t *in, const int8_t table[256], int8_t *out)
{
    for (int32_t i = 0; i < size; i++)
        out[i] = table[(int32_t)in[i] + 128];
}
