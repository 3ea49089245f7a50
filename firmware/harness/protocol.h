/* Device side of the framed serial protocol (host side: host/tinyhil/protocol.py).
 * Frame: 0xA5 0x5A | type u8 | seq u8 | length u16 LE | payload | CRC-32 LE over type..payload. */
#ifndef TINYHIL_PROTOCOL_H
#define TINYHIL_PROTOCOL_H

#include <stdint.h>

#define FRAME_MAGIC0 0xA5u
#define FRAME_MAGIC1 0x5Au

enum frame_type {
    FRAME_HELLO = 0x01,      /* device -> host: identity, at boot and on request */
    FRAME_INFER = 0x02,      /* host -> device: one input tensor */
    FRAME_RESULT = 0x03,     /* device -> host: measurement header + output tensor */
    FRAME_HELLO_REQ = 0x04,  /* host -> device: send the hello again */
    FRAME_ERROR = 0x7F,      /* device -> host: error code + the offending frame's type */
};

enum frame_error {
    ERROR_BAD_CRC = 1,
    ERROR_UNKNOWN_TYPE = 2,
    ERROR_BAD_LENGTH = 3,
    ERROR_TOO_LONG = 4,
    ERROR_MODEL_FAILED = 5,
    ERROR_FAULT = 6,         /* a CPU fault (startup_cortexm.c): which one, stacked PC/LR, CFSR, HFSR, MMFAR, BFAR */
    ERROR_TIMER_STOPPED = 7, /* the latency counter read 0 for a whole inference: no figure is sent */
};

struct frame {
    uint8_t type;
    uint8_t seq;
    uint16_t length;
    uint8_t *payload;
};

/* Blocks until a frame with a valid CRC arrives into `buffer` (capacity bytes). Frames with a bad
 * CRC or an oversize length are answered with an error frame, then the reader hunts for the next magic. */
void protocol_receive(struct frame *frame, uint8_t *buffer, uint16_t capacity);
struct frame_part {
    const uint8_t *data;
    uint16_t length;
};

/* Sends header + the payload as the concatenation of `count` parts (any may be empty) + CRC. */
void protocol_send_parts(uint8_t type, uint8_t seq, const struct frame_part *parts, unsigned count);
/* Sends header + the two payload parts (either may be empty) + CRC. */
void protocol_send(uint8_t type, uint8_t seq, const uint8_t *head, uint16_t head_length,
                   const uint8_t *body, uint16_t body_length);
void protocol_send_error(uint8_t seq, uint8_t code, uint8_t offending_type);

#endif
