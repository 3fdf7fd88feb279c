/* Detection and segmentation post-processing on the device (see
 * edgemobilenet/detection/tflite_nms.py for the host twin and its semantics). */
#ifndef EMB_POSTPROCESS_H
#define EMB_POSTPROCESS_H
#include <stdint.h>

/* TFLite_Detection_PostProcess, fast NMS or (use_regular_nms) regular per-class NMS, on a
 * detector's raw int8 output: A x 4 box codes
 * (dx, dy, dw, dh) followed by A x K class logits (column 0 the background), all with one
 * (scale, zero point). Scores are never computed per anchor: a logit passes when it is
 * >= q_threshold (the int8 form of the score threshold, computed offline) and is ranked
 * through score_table (256 floats, sigmoid((q - zp) * scale) at q + 128, offline). */
typedef struct {
    int32_t num_anchors;
    int32_t num_classes;              /* K, the background included */
    const float *anchors;             /* A x (cx, cy, w, h) */
    const float *score_table;         /* 256 entries, index q + 128 */
    float scale;
    int32_t zero_point;
    int32_t q_threshold;              /* -128..128 (128: nothing passes) */
    int32_t top_k;                    /* candidates kept for NMS (>= 1; per class if regular) */
    int32_t max_detections;           /* fast: anchors selected; regular: detections */
    int32_t max_classes_per_detection; /* fast NMS only */
    int32_t use_regular_nms;          /* 0: fast NMS, 1: regular (per-class) NMS */
    int32_t detections_per_class;     /* regular NMS only */
    double iou_threshold;             /* suppress when IoU > this */
    double scales[4];                 /* box coder x, y, w, h scales (SSD: 10, 10, 5, 5) */
} emb_detect_params_t;

typedef struct {
    float box[4];                     /* x1, y1, x2, y2 (fractions of the input) */
    int32_t cls;                      /* 0-based, the background excluded */
    float score;
} emb_detection_t;

typedef struct {
    int32_t anchor;
    float score;
    float box[4];
    int32_t active;
} emb_detect_candidate_t;

/* Scratch bytes for top_k candidates, either NMS (counted in the memory plan). */
#define EMB_DETECT_SCRATCH_BYTES(top_k) ((uint32_t)(top_k) * (uint32_t)sizeof(emb_detect_candidate_t))

/* Writes up to max_detections * min(max_classes_per_detection, K - 1) (fast NMS) or
 * max_detections (regular NMS) detections to out, best first; returns how many. Only the
 * candidates are decoded, in double (TFLite's decoding). Regular NMS merges each class's
 * selection into out by score (equal scores: earlier classes first), as the host module. */
int32_t emb_detect_postprocess(const emb_detect_params_t *p, const int8_t *raw,
                               void *scratch, emb_detection_t *out);

/* Per-pixel argmax over the channels of an NHWC int8 map (ties: the lowest channel). */
void emb_argmax_channels(const int8_t *x, int32_t pixels, int32_t channels, int8_t *out);
#endif
