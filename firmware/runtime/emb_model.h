/* The contract between a generated model (model.c, written by backends/mcu/codegen.py)
 * and the firmware runtime (main loop, serial protocol). No malloc, no interpreter. */
#ifndef EMB_MODEL_H
#define EMB_MODEL_H
#include <stdint.h>

typedef struct {
    const char *hash;          /* 64 hex chars: QGraph.digest() */
    uint32_t input_size;       /* bytes (int8) */
    uint32_t output_size;      /* bytes (int8) */
    int32_t input_shape[4];    /* NHWC, unused trailing dims are 0 */
    int32_t output_shape[4];
    float input_scale;  int32_t input_zero_point;   /* information for the host only */
    float output_scale; int32_t output_zero_point;
    uint32_t arena_size;       /* bytes */
    uint32_t num_layers;       /* nodes in execution order */
} emb_model_info_t;

/* Time source for per-layer profiling: returns a free-running count (cycles or ticks). */
typedef uint32_t (*emb_clock_fn)(void);

const emb_model_info_t *emb_model_info(void);
int8_t *emb_model_input(void);               /* where the host writes the input */
const int8_t *emb_model_output(void);        /* valid after a full run */
/* Run layers 0..last_layer (-1 = all). If layer_ticks is not NULL, layer_ticks[i] gets the
 * elapsed count of layer i measured with clock. Returns 0, or a negative error. */
int emb_model_run(int32_t last_layer, uint32_t *layer_ticks, emb_clock_fn clock);
/* Runtime note (firmware/runtime/README.md): a run may overwrite the input buffer (the
 * runtime wants a new input after each run); layer_ticks has num_layers entries. */
/* Output tensor of `layer`; valid right after emb_model_run(layer, ...). */
const int8_t *emb_model_layer_output(int32_t layer, uint32_t *size);
/* Result of the device post-processing of the last full run (detectors: int32 count then
 * count x emb_detection_t, emb_postprocess.h; segmenters: the int8 argmax map), or NULL
 * when the model has none. */
const int8_t *emb_model_postprocessed(uint32_t *size);
#endif
