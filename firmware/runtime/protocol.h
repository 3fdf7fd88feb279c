/* Device side of the framed serial protocol (PROTOCOL.md). Pure C99: builds for the
 * firmware and on the host (fuzzing). No allocation; one static server state. */
#ifndef EMB_PROTOCOL_H
#define EMB_PROTOCOL_H
#include <stdint.h>

#define EMB_PROTO_VERSION 1u
#define EMB_PROTO_SYNC0 0xA5u
#define EMB_PROTO_SYNC1 0x5Au
#define EMB_PROTO_MAX_PAYLOAD 512u
#define EMB_PROTO_OVERHEAD 8u   /* sync(2) len(2) cmd(1) seq(1) crc(2) */

enum emb_cmd {
    EMB_CMD_PING = 0x00, EMB_CMD_INFO = 0x01, EMB_CMD_SET_INPUT = 0x02,
    EMB_CMD_INVOKE = 0x03, EMB_CMD_GET_OUTPUT = 0x04, EMB_CMD_GET_LAYER_PROFILE = 0x05,
    EMB_CMD_GET_TENSOR = 0x06, EMB_CMD_GET_STACK = 0x07, EMB_CMD_BATCH = 0x08,
    EMB_CMD_GET_POSTPROCESSED = 0x09,
    EMB_CMD_REPLY = 0x80,   /* reply = request | 0x80 */
    EMB_CMD_ERROR = 0xFF,
};

enum emb_err {
    EMB_ERR_CRC = 1, EMB_ERR_TOO_LONG = 2, EMB_ERR_UNKNOWN_CMD = 3, EMB_ERR_BAD_PAYLOAD = 4,
    EMB_ERR_RANGE = 5, EMB_ERR_ORDER = 6, EMB_ERR_MODEL = 7, EMB_ERR_UNSUPPORTED = 8,
    EMB_ERR_HOST_IO = 9,
};

uint16_t emb_crc16(uint16_t crc, const uint8_t *data, uint32_t len);  /* CRC-16/CCITT-FALSE step */

/* Byte-at-a-time frame parser. */
typedef enum { EMB_RX_NONE, EMB_RX_FRAME, EMB_RX_BAD_CRC, EMB_RX_TOO_LONG } emb_rx_event;

typedef struct {
    uint8_t state;
    uint16_t len, got;
    uint8_t cmd, seq;
    uint16_t crc_rx;
    uint8_t payload[EMB_PROTO_MAX_PAYLOAD];
} emb_rx;

void emb_rx_reset(emb_rx *rx);
emb_rx_event emb_rx_feed(emb_rx *rx, uint8_t byte);

/* The server: turns complete frames into replies through `write`. */
typedef void (*emb_write_fn)(const uint8_t *data, uint32_t len);
typedef uint32_t (*emb_clock_fn_t)(void);

void emb_server_init(emb_write_fn write, emb_clock_fn_t clock);
/* Feed one received byte; replies (or error frames) are written as they become due. */
void emb_server_feed(uint8_t byte);
#endif
