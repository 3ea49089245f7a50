/* Device side of the framed serial protocol, version 3 (host side: host/tinyhil/protocol.py;
 * the two docstrings are the source of truth for the layout).
 *
 * Frame: 0xA5 0x5A | type u8 | seq u8 | length u16 LE | [length u32 LE] | payload | CRC-32 LE
 *   - a length below 0xFFFF is the payload length; 0xFFFF is an escape: the real length follows
 *     as a u32 (so tensors larger than 64 KiB travel in one frame; short frames keep the version-2
 *     header, so a version-2 firmware's hello still decodes and the host can ask for a rebuild);
 *   - the CRC-32 (zlib's) covers type .. payload, the extended length included.
 * Sequence numbers: the host numbers requests 1..255; 0 (DEVICE_SEQ) is the device's own (boot hello,
 * fault report), and a received frame with seq 0 is ignored as noise.
 * Error frame payload: code u8 | offending frame type u8 | code-specific detail (see frame_error).
 * Hello payload (main.c send_hello): version u8 | latency unit u8 | per-layer stamps u16 | arena, static
 * RAM, flash, stack, input bytes, output bytes, CPU clock in Hz: u32 each | model hash (64 chars) | runtime.
 * Result payload (main.c run_inference): latency u64 | stack high-water u32 | arena high-water u32 |
 * status i32 | per-layer stamps u32 each | the output tensor (RESULT) or its CRC-32 u32 (RESULT_CRC).
 * All integers little-endian. */
#ifndef TINYHIL_PROTOCOL_H
#define TINYHIL_PROTOCOL_H

#include <stdint.h>

#define FRAME_MAGIC0 0xA5u
#define FRAME_MAGIC1 0x5Au
#define FRAME_LENGTH_ESCAPE 0xFFFFu
#define DEVICE_SEQ 0u /* the seq of the boot hello and of unsolicited reports (a fault); requests use 1..255 */

enum frame_type {
    FRAME_HELLO = 0x01,        /* device -> host: identity, at boot (seq 0) and on request */
    FRAME_INFER = 0x02,        /* host -> device: one input tensor, received straight into the model's input */
    FRAME_RESULT = 0x03,       /* device -> host: measurement header + per-layer stamps + output tensor */
    FRAME_HELLO_REQ = 0x04,    /* host -> device: send the hello again */
    FRAME_INFER_SEEDED = 0x05, /* host -> device: seed u32 LE; the device generates the input itself */
    FRAME_RESULT_CRC = 0x06,   /* device -> host: as RESULT, but the output's CRC-32 u32 LE instead of it */
    FRAME_ERROR = 0x7F,        /* device -> host: error code + the offending frame's type + detail */
};

enum frame_error {
    ERROR_BAD_CRC = 1,      /* detail: none */
    ERROR_UNKNOWN_TYPE = 2, /* detail: none */
    ERROR_BAD_LENGTH = 3,   /* detail: announced length u32 LE | expected length u32 LE */
    ERROR_TOO_LONG = 4,     /* detail: announced length u32 LE | capacity u32 LE */
    ERROR_MODEL_FAILED = 5, /* detail: the model's status i32 LE */
    ERROR_FAULT = 6,         /* a CPU fault (startup_cortexm.c), seq 0: which one, stacked PC/LR, CFSR, HFSR, MMFAR, BFAR */
    ERROR_TIMER_STOPPED = 7, /* the latency counter read 0 for a whole inference: no figure is sent */
};

struct frame_header {
    uint8_t type;
    uint8_t seq;
    uint32_t length;
    uint32_t crc; /* running CRC-32 over the header bytes read so far */
};

/* Blocks until a frame's magic and header arrive (hunting through any garbage). */
void protocol_receive_header(struct frame_header *header);
/* Reads header->length payload bytes into `destination` and the CRC; returns 1 when the CRC
 * matches, else answers BAD_CRC and returns 0. The caller checked the length fits. */
int protocol_receive_payload(const struct frame_header *header, uint8_t *destination);

struct frame_part {
    const uint8_t *data;
    uint32_t length;
};

/* Sends header + the payload as the concatenation of `count` parts (any may be empty) + CRC. */
void protocol_send_parts(uint8_t type, uint8_t seq, const struct frame_part *parts, unsigned count);
/* Sends header + the two payload parts (either may be empty) + CRC. */
void protocol_send(uint8_t type, uint8_t seq, const uint8_t *head, uint32_t head_length,
                   const uint8_t *body, uint32_t body_length);
/* An error frame: code, the offending frame's type, then `detail` (may be empty). */
void protocol_send_error(uint8_t seq, uint8_t code, uint8_t offending_type, const uint8_t *detail,
                         uint32_t detail_length);

/* Little-endian u32 to / from bytes (every integer of the protocol is little-endian). */
void put_u32(uint8_t *out, uint32_t value);
uint32_t get_u32(const uint8_t *in);

#endif
