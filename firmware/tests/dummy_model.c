/* A tiny model implementing emb_model.h for protocol tests (no kernels needed):
 *   layer 0: a = sat8(in + 1)                       (1,16,16,3)
 *   layer 1: b = sat8(2 * a), written over the input (1,16,16,3)
 *   layer 2: out[p] = sat8(b[3p] + b[3p+1] + b[3p+2]) (1,16,16,1)
 * Layer 1 reuses the input buffer on purpose, as a memory planner may.
 * Built with -DEMB_DUMMY_MISBEHAVE, an input starting 7E 7E faults (udf) and one starting
 * 7D 7D never returns: the host tests use them for guest crashes and hangs. */
#include <stddef.h>
#include "emb_model.h"

#define N_IN (16 * 16 * 3)
#define N_OUT (16 * 16)

/* the arena and a constant in the bulk sections, as generated code may place them */
static int8_t input[N_IN], output[N_OUT];
static int8_t arena[N_IN] __attribute__((section(".emb_bulk_bss")));
static const int8_t one[3] __attribute__((section(".emb_bulk"))) = {1, 1, 1};

static const emb_model_info_t info = {
    .hash = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0",
    .input_size = N_IN, .output_size = N_OUT,
    .input_shape = {1, 16, 16, 3}, .output_shape = {1, 16, 16, 1},
    .input_scale = 0.5f, .input_zero_point = -3,
    .output_scale = 0.25f, .output_zero_point = 7,
    .arena_size = sizeof arena, .num_layers = 3,
};

static int8_t sat8(int32_t v) { return (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v); }

const emb_model_info_t *emb_model_info(void) { return &info; }
int8_t *emb_model_input(void) { return input; }
const int8_t *emb_model_output(void) { return output; }

int emb_model_run(int32_t last_layer, uint32_t *layer_ticks, emb_clock_fn clock) {
    if (last_layer < 0) last_layer = 2;
    if (last_layer > 2) return -1;
#ifdef EMB_DUMMY_MISBEHAVE
    if (input[0] == 0x7E && input[1] == 0x7E) __builtin_trap();
    if (input[0] == 0x7D && input[1] == 0x7D) for (;;) { __asm volatile(""); }
#endif
    for (int32_t layer = 0; layer <= last_layer; layer++) {
        uint32_t t0 = clock ? clock() : 0;
        if (layer == 0)
            for (int i = 0; i < N_IN; i++) arena[i] = sat8(input[i] + one[i % 3]);
        else if (layer == 1)
            for (int i = 0; i < N_IN; i++) input[i] = sat8(2 * arena[i]);
        else
            for (int p = 0; p < N_OUT; p++)
                output[p] = sat8(input[3 * p] + input[3 * p + 1] + input[3 * p + 2]);
        if (layer_ticks && clock) layer_ticks[layer] = clock() - t0;
    }
    return 0;
}

const int8_t *emb_model_layer_output(int32_t layer, uint32_t *size) {
    switch (layer) {
    case 0: *size = N_IN; return arena;
    case 1: *size = N_IN; return input;
    case 2: *size = N_OUT; return output;
    default: *size = 0; return NULL;
    }
}

const int8_t *emb_model_postprocessed(uint32_t *size) {
    *size = 0;
    return NULL;
}
