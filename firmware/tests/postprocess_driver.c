/* Test driver of emb_postprocess.c (host under sanitizers, or QEMU via semihosting).
 * Record: int32 op (0 detect, 1 argmax, -1 end), then
 *   detect: int32 A, K, zero_point, q_threshold, top_k, max_detections,
 *           max_classes_per_detection, use_regular_nms, detections_per_class;
 *           blobs: float32 scale, float64 iou_threshold, 4 float64 box coder scales,
 *           anchors (A x 4 float32), score table (256 float32), raw output (A x (4 + K) int8)
 *   argmax: int32 pixels, channels; blob: the int8 map.
 * Result: int32 count (detections or pixels), uint32 instructions, the items
 *         (emb_detection_t each, or int8 padded to 4). */
#include <string.h>
#include "emb_postprocess.h"
#include "tb_io.h"

static void wr32(int32_t v) { tb_write(&v, 4); }

static void detect(void)
{
    emb_detect_params_t p;
    p.num_anchors = tb_rd32();
    p.num_classes = tb_rd32();
    p.zero_point = tb_rd32();
    p.q_threshold = tb_rd32();
    p.top_k = tb_rd32();
    p.max_detections = tb_rd32();
    p.max_classes_per_detection = tb_rd32();
    p.use_regular_nms = tb_rd32();
    p.detections_per_class = tb_rd32();
    memcpy(&p.scale, tb_read_blob(), sizeof p.scale);
    memcpy(&p.iou_threshold, tb_read_blob(), sizeof p.iou_threshold);
    memcpy(p.scales, tb_read_blob(), sizeof p.scales);
    p.anchors = tb_read_blob();
    p.score_table = tb_read_blob();
    const int8_t *raw = tb_read_blob();
    if (p.top_k < 1 || p.max_detections < 0 || p.num_classes < 2) tb_exit(4);
    void *scratch = tb_alloc(EMB_DETECT_SCRATCH_BYTES(p.top_k));
    const int32_t k = p.use_regular_nms ? 1 : p.max_classes_per_detection < p.num_classes - 1
                      ? p.max_classes_per_detection : p.num_classes - 1;
    emb_detection_t *out = tb_alloc((uint32_t)(p.max_detections * k) * sizeof *out + 1u);
    if (!scratch || !out) tb_exit(7);
    const uint32_t t0 = tb_instr_begin();
    const int32_t n = emb_detect_postprocess(&p, raw, scratch, out);
    const uint32_t instr = tb_instr_end(t0);
    wr32(n);
    wr32((int32_t)instr);
    tb_write(out, (uint32_t)n * sizeof *out);
}

static void argmax(void)
{
    const int32_t pixels = tb_rd32(), channels = tb_rd32();
    const int8_t *x = tb_read_blob();
    int8_t *out = tb_alloc((uint32_t)pixels + 4u);
    const uint32_t zero = 0;
    if (!out || channels < 1) tb_exit(7);
    const uint32_t t0 = tb_instr_begin();
    emb_argmax_channels(x, pixels, channels, out);
    const uint32_t instr = tb_instr_end(t0);
    wr32(pixels);
    wr32((int32_t)instr);
    tb_write(out, (uint32_t)pixels);
    tb_write(&zero, (((uint32_t)pixels + 3u) & ~3u) - (uint32_t)pixels);
}

int main(void)
{
    for (;;) {
        const int32_t op = tb_rd32();
        if (op < 0) break;
        if (op == 0) {
            detect();
        } else if (op == 1) {
            argmax();
        } else {
            tb_exit(4);
        }
        tb_free_all();
    }
    tb_exit(0);
    return 0;
}
