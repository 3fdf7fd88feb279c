/* Host driver for a generated model (backends/mcu/host.py): the model runs natively with
 * the portable kernels, under sanitizers, and its bytes are compared with the reference.
 *   host_model < input.bin > output.bin          one full run, the output tensor
 *   host_model layers < input.bin > layers.bin   for each layer i: run 0..i, then
 *                                               uint32 size (little endian) + its output */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emb_model.h"

static int write_all(const void *p, size_t n) { return fwrite(p, 1, n, stdout) == n ? 0 : 1; }

int main(int argc, char **argv)
{
    const emb_model_info_t *info = emb_model_info();
    int8_t *input = malloc(info->input_size);
    if (!input || fread(input, 1, info->input_size, stdin) != info->input_size) {
        fprintf(stderr, "host_model: expected %u input bytes\n", (unsigned)info->input_size);
        return 1;
    }
    if (argc > 1 && strcmp(argv[1], "layers") == 0) {
        for (int32_t i = 0; i < (int32_t)info->num_layers; i++) {
            uint32_t size = 0;
            memcpy(emb_model_input(), input, info->input_size);
            if (emb_model_run(i, NULL, NULL) != 0) return 2;
            const int8_t *out = emb_model_layer_output(i, &size);
            uint8_t hdr[4] = {size & 0xff, (size >> 8) & 0xff, (size >> 16) & 0xff, size >> 24};
            if (!out || write_all(hdr, 4) || write_all(out, size)) return 3;
        }
    } else {
        memcpy(emb_model_input(), input, info->input_size);
        if (emb_model_run(-1, NULL, NULL) != 0) return 2;
        if (write_all(emb_model_output(), info->output_size)) return 3;
    }
    free(input);
    return 0;
}
