/* Device side of the serial protocol: frame parser, command dispatch, replies.
 * See PROTOCOL.md for the wire format. Every malformed, oversized or out-of-order frame
 * gets an error frame and the server keeps going. */
#include "protocol.h"

#include <string.h>

#include "emb_board.h"
#include "emb_model.h"

#ifndef EMB_MAX_LAYERS
#define EMB_MAX_LAYERS 512
#endif

enum { RX_SYNC0, RX_SYNC1, RX_LEN0, RX_LEN1, RX_CMD, RX_SEQ, RX_PAYLOAD, RX_CRC0, RX_CRC1 };

uint16_t emb_crc16(uint16_t crc, const uint8_t *data, uint32_t len) {
    for (uint32_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)((crc & 0x8000u) ? (crc << 1) ^ 0x1021u : crc << 1);
    }
    return crc;
}

void emb_rx_reset(emb_rx *rx) { rx->state = RX_SYNC0; }

emb_rx_event emb_rx_feed(emb_rx *rx, uint8_t b) {
    switch (rx->state) {
    case RX_SYNC0: if (b == EMB_PROTO_SYNC0) rx->state = RX_SYNC1; return EMB_RX_NONE;
    case RX_SYNC1:
        rx->state = b == EMB_PROTO_SYNC1 ? RX_LEN0 : (b == EMB_PROTO_SYNC0 ? RX_SYNC1 : RX_SYNC0);
        return EMB_RX_NONE;
    case RX_LEN0: rx->len = b; rx->state = RX_LEN1; return EMB_RX_NONE;
    case RX_LEN1: rx->len |= (uint16_t)(b << 8); rx->state = RX_CMD; return EMB_RX_NONE;
    case RX_CMD: rx->cmd = b; rx->state = RX_SEQ; return EMB_RX_NONE;
    case RX_SEQ:
        rx->seq = b;
        if (rx->len > EMB_PROTO_MAX_PAYLOAD) { rx->state = RX_SYNC0; return EMB_RX_TOO_LONG; }
        rx->got = 0;
        rx->state = rx->len ? RX_PAYLOAD : RX_CRC0;
        return EMB_RX_NONE;
    case RX_PAYLOAD:
        rx->payload[rx->got++] = b;
        if (rx->got == rx->len) rx->state = RX_CRC0;
        return EMB_RX_NONE;
    case RX_CRC0: rx->crc_rx = b; rx->state = RX_CRC1; return EMB_RX_NONE;
    default: {
        rx->crc_rx |= (uint16_t)(b << 8);
        rx->state = RX_SYNC0;
        uint8_t head[4] = {(uint8_t)rx->len, (uint8_t)(rx->len >> 8), rx->cmd, rx->seq};
        uint16_t crc = emb_crc16(emb_crc16(0xFFFFu, head, 4), rx->payload, rx->len);
        return crc == rx->crc_rx ? EMB_RX_FRAME : EMB_RX_BAD_CRC;
    }
    }
}

/* ---- server state ---- */
static struct {
    emb_rx rx;
    emb_write_fn write;
    /* the last request served and its reply (still in `out`): a retried request (same seq,
     * cmd and CRC) gets the same reply again instead of running twice */
    int replay_ok;
    uint8_t last_seq, last_cmd, last_reply_cmd;
    uint16_t last_crc, last_len;
    emb_clock_fn_t clock;
    uint32_t input_filled;   /* bytes of input written in order since the last run */
    int output_valid;        /* a full run finished since the last set_input */
    int profile_valid;
    int32_t tensor_layer;    /* layer whose output emb_model_layer_output() holds, or -1 */
    uint8_t out[EMB_PROTO_MAX_PAYLOAD];
    uint32_t layer_ticks[EMB_MAX_LAYERS];
} S;

static void put_u16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v) { put_u16(p, v); put_u16(p + 2, v >> 16); }
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void send(uint8_t cmd, uint8_t seq, const uint8_t *payload, uint32_t len) {
    S.last_reply_cmd = cmd;
    S.last_len = (uint16_t)len;
    uint8_t head[6] = {EMB_PROTO_SYNC0, EMB_PROTO_SYNC1, (uint8_t)len, (uint8_t)(len >> 8),
                       cmd, seq};
    uint16_t crc = emb_crc16(emb_crc16(0xFFFFu, head + 2, 4), payload, len);
    uint8_t tail[2] = {(uint8_t)crc, (uint8_t)(crc >> 8)};
    S.write(head, 6);
    if (len) S.write(payload, len);
    S.write(tail, 2);
}

static void fail(uint8_t seq, uint8_t cmd, uint8_t code, const char *msg) {
    uint32_t n = (uint32_t)strlen(msg);
    S.out[0] = code;
    S.out[1] = cmd;
    memcpy(S.out + 2, msg, n);
    send(EMB_CMD_ERROR, seq, S.out, n + 2);
}

/* answer the request `f` with an error and leave the command handler */
#define FAIL(code, msg) do { fail(f->seq, f->cmd, (uint8_t)(code), (msg)); return; } while (0)

static void reply(const emb_rx *f, uint32_t len) {
    send((uint8_t)(f->cmd | EMB_CMD_REPLY), f->seq, S.out, len);
}

static void cmd_info(const emb_rx *f) {
    const emb_model_info_t *m = emb_model_info();
    uint8_t *p = S.out;
    memset(p, 0, 160);
    put_u16(p, EMB_PROTO_VERSION); put_u16(p + 2, EMB_PROTO_MAX_PAYLOAD);
    memcpy(p + 4, m->hash, 64);
    put_u32(p + 68, m->input_size); put_u32(p + 72, m->output_size);
    for (int i = 0; i < 4; i++) {
        put_u32(p + 76 + 4 * i, (uint32_t)m->input_shape[i]);
        put_u32(p + 92 + 4 * i, (uint32_t)m->output_shape[i]);
    }
    memcpy(p + 108, &m->input_scale, 4); put_u32(p + 112, (uint32_t)m->input_zero_point);
    memcpy(p + 116, &m->output_scale, 4); put_u32(p + 120, (uint32_t)m->output_zero_point);
    put_u32(p + 124, m->arena_size); put_u32(p + 128, m->num_layers);
    put_u32(p + 132, board_clock_hz()); put_u32(p + 136, board_stack_size());
    p[140] = (uint8_t)board_semihosting();
    const char *unit = board_clock_unit();
    uint32_t n = (uint32_t)strlen(unit);
    memcpy(p + 144, unit, n < 15 ? n : 15);
    reply(f, 160);
}

static void cmd_set_input(const emb_rx *f) {
    const emb_model_info_t *m = emb_model_info();
    if (f->len < 4) FAIL(EMB_ERR_BAD_PAYLOAD, "set_input: need offset");
    uint32_t off = get_u32(f->payload), n = f->len - 4u;
    if (off > m->input_size || n > m->input_size - off)
        FAIL(EMB_ERR_RANGE, "set_input: chunk beyond the input");
    if (off > S.input_filled) FAIL(EMB_ERR_ORDER, "set_input: chunk out of order");
    memcpy(emb_model_input() + off, f->payload + 4, n);
    /* offset 0 starts a new input; a repeated chunk (a retry) keeps the filled count */
    if (off == 0 || off + n > S.input_filled) S.input_filled = off + n;
    S.output_valid = 0;
    S.profile_valid = 0;
    S.tensor_layer = -1;
    put_u32(S.out, S.input_filled);
    reply(f, 4);
}

static int input_ready(const emb_rx *f) {
    if (S.input_filled == emb_model_info()->input_size) return 1;
    fail(f->seq, f->cmd, EMB_ERR_ORDER, "no complete input since the last run");
    return 0;
}

static void cmd_invoke(const emb_rx *f) {
    const emb_model_info_t *m = emb_model_info();
    if (f->len != 0) FAIL(EMB_ERR_BAD_PAYLOAD, "invoke: no payload expected");
    if (!input_ready(f)) return;
    uint32_t *ticks = m->num_layers <= EMB_MAX_LAYERS ? S.layer_ticks : 0;
    S.input_filled = 0;   /* a run may reuse the input buffer */
    uint32_t t0 = S.clock();
    int rc = emb_model_run(-1, ticks, S.clock);
    uint32_t t1 = S.clock();
    if (rc != 0) {
        S.tensor_layer = -1;
        FAIL(EMB_ERR_MODEL, "model run failed");
    }
    S.output_valid = 1;
    S.profile_valid = ticks != 0;
    S.tensor_layer = (int32_t)m->num_layers - 1;
    put_u32(S.out, t1 - t0);
    reply(f, 4);
}

/* request: u32 offset, u16 max_len; reply: bytes */
static int chunk_args(const emb_rx *f, uint32_t skip, uint32_t *off, uint32_t *max) {
    if (f->len != skip + 6) {
        fail(f->seq, f->cmd, EMB_ERR_BAD_PAYLOAD, "expected offset and length");
        return 0;
    }
    *off = get_u32(f->payload + skip);
    *max = (uint32_t)f->payload[skip + 4] | (uint32_t)f->payload[skip + 5] << 8;
    return 1;
}

static void send_chunk(const emb_rx *f, const int8_t *data, uint32_t size, uint32_t off,
                       uint32_t max, uint32_t head) {
    if (off > size) FAIL(EMB_ERR_RANGE, "offset beyond the tensor");
    uint32_t n = size - off;
    if (n > max) n = max;
    if (n > EMB_PROTO_MAX_PAYLOAD - head) n = EMB_PROTO_MAX_PAYLOAD - head;
    memcpy(S.out + head, data + off, n);
    reply(f, head + n);
}

static void cmd_get_output(const emb_rx *f) {
    uint32_t off, max;
    if (!chunk_args(f, 0, &off, &max)) return;
    if (!S.output_valid) FAIL(EMB_ERR_ORDER, "get_output: no run since the last input");
    send_chunk(f, emb_model_output(), emb_model_info()->output_size, off, max, 0);
}

static void cmd_get_tensor(const emb_rx *f) {
    uint32_t off, max, size = 0;
    if (!chunk_args(f, 4, &off, &max)) return;
    int32_t layer = (int32_t)get_u32(f->payload);
    if (layer < 0 || (uint32_t)layer >= emb_model_info()->num_layers)
        FAIL(EMB_ERR_RANGE, "get_tensor: no such layer");
    if (layer != S.tensor_layer) {
        if (!input_ready(f)) return;
        S.input_filled = 0;
        S.output_valid = 0;
        S.tensor_layer = -1;
        if (emb_model_run(layer, 0, S.clock) != 0) FAIL(EMB_ERR_MODEL, "model run failed");
        S.tensor_layer = layer;
        S.output_valid = (uint32_t)layer + 1 == emb_model_info()->num_layers;
    }
    const int8_t *data = emb_model_layer_output(layer, &size);
    if (!data) FAIL(EMB_ERR_MODEL, "get_tensor: layer has no output");
    put_u32(S.out, size);
    send_chunk(f, data, size, off, max, 4);
}

static void cmd_get_postprocessed(const emb_rx *f) {
    uint32_t off, max, size = 0;
    if (!chunk_args(f, 0, &off, &max)) return;
    if (!S.output_valid) FAIL(EMB_ERR_ORDER, "get_postprocessed: no run since the last input");
    const int8_t *data = emb_model_postprocessed(&size);
    if (!data) FAIL(EMB_ERR_UNSUPPORTED, "get_postprocessed: the model has no post-processing");
    put_u32(S.out, size);
    send_chunk(f, data, size, off, max, 4);
}

static void cmd_layer_profile(const emb_rx *f) {
    uint32_t layers = emb_model_info()->num_layers;
    if (f->len != 4) FAIL(EMB_ERR_BAD_PAYLOAD, "get_layer_profile: need first layer");
    if (!S.profile_valid) FAIL(EMB_ERR_ORDER, "get_layer_profile: no profiled run");
    uint32_t first = get_u32(f->payload);
    if (first > layers) FAIL(EMB_ERR_RANGE, "get_layer_profile: no such layer");
    uint32_t n = layers - first, cap = (EMB_PROTO_MAX_PAYLOAD - 4) / 4;
    if (n > cap) n = cap;
    put_u32(S.out, n);
    for (uint32_t i = 0; i < n; i++) put_u32(S.out + 4 + 4 * i, S.layer_ticks[first + i]);
    reply(f, 4 + 4 * n);
}

static void cmd_get_stack(const emb_rx *f) {
    put_u32(S.out, board_stack_high_water());
    put_u32(S.out + 4, board_stack_size());
    reply(f, 8);
}

/* payload: u32 count, "in_path\0out_path\0". Reads count inputs from the host file, runs
 * each, appends outputs to the output file (semihosting). Reply: u32 done, u64 ticks. */
static void cmd_batch(const emb_rx *f) {
    const emb_model_info_t *m = emb_model_info();
    if (!board_semihosting()) FAIL(EMB_ERR_UNSUPPORTED, "batch: no semihosting on this target");
    if (f->len < 8 || f->payload[f->len - 1] != 0)
        FAIL(EMB_ERR_BAD_PAYLOAD, "batch: need count and two paths");
    uint32_t count = get_u32(f->payload);
    const char *in_path = (const char *)f->payload + 4;
    uint32_t in_len = (uint32_t)strlen(in_path);
    if (4 + in_len + 1 >= f->len) FAIL(EMB_ERR_BAD_PAYLOAD, "batch: need two paths");
    const char *out_path = in_path + in_len + 1;
    int32_t fin = board_host_open(in_path, 0);
    if (fin < 0) FAIL(EMB_ERR_HOST_IO, "batch: cannot open the input file");
    int32_t fout = board_host_open(out_path, 1);
    if (fout < 0) {
        board_host_close(fin);
        FAIL(EMB_ERR_HOST_IO, "batch: cannot open the output file");
    }
    uint64_t total = 0;
    uint32_t done = 0;
    int err = 0;
    S.input_filled = 0; S.output_valid = 0; S.profile_valid = 0; S.tensor_layer = -1;
    for (; done < count; done++) {
        if (board_host_read(fin, emb_model_input(), m->input_size) != (int32_t)m->input_size) {
            err = EMB_ERR_HOST_IO;
            break;
        }
        uint32_t t0 = S.clock();
        if (emb_model_run(-1, 0, S.clock) != 0) { err = EMB_ERR_MODEL; break; }
        total += S.clock() - t0;
        if (board_host_write(fout, emb_model_output(), m->output_size) !=
            (int32_t)m->output_size) {
            err = EMB_ERR_HOST_IO;
            break;
        }
    }
    board_host_close(fin);
    board_host_close(fout);
    if (err) FAIL((uint8_t)err, "batch: stopped early (short input file or run failure)");
    put_u32(S.out, done);
    put_u32(S.out + 4, (uint32_t)total);
    put_u32(S.out + 8, (uint32_t)(total >> 32));
    reply(f, 12);
}

static void dispatch(const emb_rx *f) {
    if (S.replay_ok && f->seq == S.last_seq && f->cmd == S.last_cmd && f->crc_rx == S.last_crc) {
        send(S.last_reply_cmd, f->seq, S.out, S.last_len);
        return;
    }
    S.replay_ok = 1;
    S.last_seq = f->seq;
    S.last_cmd = f->cmd;
    S.last_crc = f->crc_rx;
    switch (f->cmd) {
    case EMB_CMD_PING: memcpy(S.out, f->payload, f->len); reply(f, f->len); break;
    case EMB_CMD_INFO: cmd_info(f); break;
    case EMB_CMD_SET_INPUT: cmd_set_input(f); break;
    case EMB_CMD_INVOKE: cmd_invoke(f); break;
    case EMB_CMD_GET_OUTPUT: cmd_get_output(f); break;
    case EMB_CMD_GET_LAYER_PROFILE: cmd_layer_profile(f); break;
    case EMB_CMD_GET_TENSOR: cmd_get_tensor(f); break;
    case EMB_CMD_GET_STACK: cmd_get_stack(f); break;
    case EMB_CMD_GET_POSTPROCESSED: cmd_get_postprocessed(f); break;
    case EMB_CMD_BATCH: cmd_batch(f); break;
    default: fail(f->seq, f->cmd, EMB_ERR_UNKNOWN_CMD, "unknown command"); break;
    }
}

void emb_server_init(emb_write_fn write, emb_clock_fn_t clock) {
    memset(&S, 0, sizeof S);
    S.write = write;
    S.clock = clock;
    S.tensor_layer = -1;
    emb_rx_reset(&S.rx);
}

void emb_server_feed(uint8_t byte) {
    switch (emb_rx_feed(&S.rx, byte)) {
    case EMB_RX_FRAME: dispatch(&S.rx); break;
    case EMB_RX_BAD_CRC: S.replay_ok = 0; fail(S.rx.seq, S.rx.cmd, EMB_ERR_CRC, "bad CRC"); break;
    case EMB_RX_TOO_LONG:
        S.replay_ok = 0;
        fail(S.rx.seq, S.rx.cmd, EMB_ERR_TOO_LONG, "frame longer than the maximum payload");
        break;
    default: break;
    }
}
