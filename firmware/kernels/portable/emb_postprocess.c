/* Detection post-processing (TFLite_Detection_PostProcess, fast or regular NMS) and the segmentation
 * argmax, mirroring edgemobilenet/detection/tflite_nms.py step for step: the int8 logits
 * are thresholded and ranked without dequantizing, only the top_k survivors are decoded
 * (double arithmetic and exp(), float32 boxes, as TFLite), IoU in float32. No
 * floating-point contraction (the firmware builds with -std=gnu11, which would allow fused
 * multiply-adds on cores with a double FPU), so host and device round alike. */
#pragma GCC optimize("fp-contract=off")
#include <math.h>
#include "emb_postprocess.h"

static float score_of(const emb_detect_params_t *p, int8_t q) { return p->score_table[q + 128]; }

/* the anchor's best class (1..K-1; ties: the lowest index) */
static int32_t best_class(const emb_detect_params_t *p, const int8_t *logits)
{
    int32_t best = 1;
    for (int32_t c = 2; c < p->num_classes; c++) {
        if (score_of(p, logits[c]) > score_of(p, logits[best])) best = c;
    }
    return best;
}

static void decode(const emb_detect_params_t *p, const int8_t *code, const float *a, float *box)
{
    float c[4];
    for (int32_t i = 0; i < 4; i++) c[i] = ((float)code[i] - (float)p->zero_point) * p->scale;
    const float cx = (float)((double)c[0] / p->scales[0] * (double)a[2] + (double)a[0]);
    const float cy = (float)((double)c[1] / p->scales[1] * (double)a[3] + (double)a[1]);
    const float hw = (float)(0.5 * exp((double)c[2] / p->scales[2]) * (double)a[2]);
    const float hh = (float)(0.5 * exp((double)c[3] / p->scales[3]) * (double)a[3]);
    box[0] = cx - hw;
    box[1] = cy - hh;
    box[2] = cx + hw;
    box[3] = cy + hh;
}

static float fmin2(float a, float b) { return b < a ? b : a; }
static float fmax2(float a, float b) { return b > a ? b : a; }

static float iou(const float *a, const float *b)
{
    const float area_a = (a[3] - a[1]) * (a[2] - a[0]);
    const float area_b = (b[3] - b[1]) * (b[2] - b[0]);
    if (area_a <= 0.0f || area_b <= 0.0f) return 0.0f;
    const float inter = fmax2(fmin2(a[3], b[3]) - fmax2(a[1], b[1]), 0.0f) *
                        fmax2(fmin2(a[2], b[2]) - fmax2(a[0], b[0]), 0.0f);
    return inter / (area_a + area_b - inter);
}

/* insert into the score-descending list; equal scores keep anchor order (stable) */
static int32_t insert(emb_detect_candidate_t *cand, int32_t n, int32_t cap, int32_t anchor,
                      float score)
{
    int32_t pos = n;
    while (pos > 0 && cand[pos - 1].score < score) pos--;
    if (pos >= cap) return n;
    for (int32_t i = (n < cap ? n : cap - 1); i > pos; i--) cand[i] = cand[i - 1];
    cand[pos].anchor = anchor;
    cand[pos].score = score;
    return n < cap ? n + 1 : n;
}

/* decode the n candidates, then greedy NMS: afterwards exactly the selected candidates
 * (at most `limit`, best first) are active */
static void nms(const emb_detect_params_t *p, const int8_t *raw, emb_detect_candidate_t *cand,
                int32_t n, int32_t limit)
{
    for (int32_t i = 0; i < n; i++) {
        decode(p, raw + 4 * cand[i].anchor, p->anchors + 4 * cand[i].anchor, cand[i].box);
        cand[i].active = 1;
    }
    int32_t selected = 0, i = 0;
    for (; i < n && selected < limit; i++) {
        if (!cand[i].active) continue;
        if (++selected == limit) continue;     /* the last one: nothing more to suppress */
        for (int32_t j = i + 1; j < n; j++) {
            if (cand[j].active && (double)iou(cand[i].box, cand[j].box) > p->iou_threshold) {
                cand[j].active = 0;
            }
        }
    }
    for (; i < n; i++) cand[i].active = 0;     /* not reached: not selected */
}

/* the top_k candidates at or above the threshold, best first: of class `cls` (>= 1), or
 * with `cls` 0 of each anchor's best class */
static int32_t gather(const emb_detect_params_t *p, const int8_t *logits, int32_t cls,
                      emb_detect_candidate_t *cand)
{
    int32_t n = 0;
    for (int32_t a = 0; a < p->num_anchors; a++) {
        const int8_t *l = logits + a * p->num_classes;
        const int32_t c = cls ? cls : best_class(p, l);
        if ((int32_t)l[c] >= p->q_threshold) n = insert(cand, n, p->top_k, a, score_of(p, l[c]));
    }
    return n;
}

static void set_detection(emb_detection_t *d, const float *box, int32_t cls, float score)
{
    for (int32_t t = 0; t < 4; t++) d->box[t] = box[t];
    d->cls = cls;
    d->score = score;
}

static int32_t fast_nms(const emb_detect_params_t *p, const int8_t *raw,
                        emb_detect_candidate_t *cand, emb_detection_t *out)
{
    const int32_t k_all = p->num_classes;
    const int8_t *logits = raw + 4 * p->num_anchors;
    const int32_t n = gather(p, logits, 0, cand);
    nms(p, raw, cand, n, p->max_detections);
    int32_t k = p->max_classes_per_detection;
    if (k > k_all - 1) k = k_all - 1;
    int32_t n_out = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!cand[i].active) continue;
        /* the anchor's k best classes, best first (ties: the lowest index) */
        const int8_t *l = logits + cand[i].anchor * k_all;
        for (int32_t r = 0; r < k; r++) {
            int32_t best = -1;
            for (int32_t c = 1; c < k_all; c++) {
                int taken = 0;
                for (int32_t t = n_out - r; t < n_out; t++) taken |= out[t].cls == c - 1;
                if (!taken && (best < 0 || score_of(p, l[c]) > score_of(p, l[best]))) best = c;
            }
            set_detection(&out[n_out++], cand[i].box, best - 1, score_of(p, l[best]));
        }
    }
    return n_out;
}

static int32_t regular_nms(const emb_detect_params_t *p, const int8_t *raw,
                           emb_detect_candidate_t *cand, emb_detection_t *out)
{
    const int8_t *logits = raw + 4 * p->num_anchors;
    int32_t n_out = 0;
    for (int32_t c = 1; c < p->num_classes; c++) {
        const int32_t n = gather(p, logits, c, cand);
        nms(p, raw, cand, n, p->detections_per_class);
        for (int32_t i = 0; i < n; i++) {          /* merge: after equal scores, capped */
            if (!cand[i].active) continue;
            int32_t pos = n_out;
            while (pos > 0 && out[pos - 1].score < cand[i].score) pos--;
            if (pos >= p->max_detections) continue;
            if (n_out < p->max_detections) n_out++;
            for (int32_t t = n_out - 1; t > pos; t--) out[t] = out[t - 1];
            set_detection(&out[pos], cand[i].box, c - 1, cand[i].score);
        }
    }
    return n_out;
}

int32_t emb_detect_postprocess(const emb_detect_params_t *p, const int8_t *raw,
                               void *scratch, emb_detection_t *out)
{
    emb_detect_candidate_t *cand = (emb_detect_candidate_t *)scratch;
    return p->use_regular_nms ? regular_nms(p, raw, cand, out) : fast_nms(p, raw, cand, out);
}

void emb_argmax_channels(const int8_t *x, int32_t pixels, int32_t channels, int8_t *out)
{
    for (int32_t i = 0; i < pixels; i++, x += channels) {
        int32_t best = 0;
        for (int32_t c = 1; c < channels; c++) {
            if (x[c] > x[best]) best = c;
        }
        out[i] = (int8_t)best;
    }
}
