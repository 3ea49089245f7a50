#include "protocol.h"

#include "crc32.h"
#include "platform.h"

static void send_bytes(const uint8_t *data, uint16_t length)
{
    for (uint16_t i = 0; i < length; ++i) {
        platform_putc(data[i]);
    }
}

void protocol_send_parts(uint8_t type, uint8_t seq, const struct frame_part *parts, unsigned count)
{
    uint16_t length = 0;
    for (unsigned i = 0; i < count; ++i) {
        length = (uint16_t)(length + parts[i].length);
    }
    const uint8_t header[6] = {FRAME_MAGIC0, FRAME_MAGIC1, type, seq, (uint8_t)length, (uint8_t)(length >> 8)};
    uint32_t crc = crc32_update(0, &header[2], 4);
    for (unsigned i = 0; i < count; ++i) {
        crc = crc32_update(crc, parts[i].data, parts[i].length);
    }
    const uint8_t trailer[4] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16), (uint8_t)(crc >> 24)};
    send_bytes(header, sizeof header);
    for (unsigned i = 0; i < count; ++i) {
        send_bytes(parts[i].data, parts[i].length);
    }
    send_bytes(trailer, sizeof trailer);
}

void protocol_send(uint8_t type, uint8_t seq, const uint8_t *head, uint16_t head_length,
                   const uint8_t *body, uint16_t body_length)
{
    const struct frame_part parts[2] = {{head, head_length}, {body, body_length}};
    protocol_send_parts(type, seq, parts, 2);
}

void protocol_send_error(uint8_t seq, uint8_t code, uint8_t offending_type)
{
    const uint8_t payload[2] = {code, offending_type};
    protocol_send(FRAME_ERROR, seq, payload, sizeof payload, 0, 0);
}

static void hunt_magic(void)
{
    uint8_t previous = 0;
    for (;;) {
        const uint8_t byte = platform_getc();
        if (previous == FRAME_MAGIC0 && byte == FRAME_MAGIC1) {
            return;
        }
        previous = byte;
    }
}

void protocol_receive(struct frame *frame, uint8_t *buffer, uint16_t capacity)
{
    for (;;) {
        hunt_magic();
        uint8_t header[4];
        for (int i = 0; i < 4; ++i) {
            header[i] = platform_getc();
        }
        const uint16_t length = (uint16_t)(header[2] | (header[3] << 8));
        if (length > capacity) {
            protocol_send_error(header[1], ERROR_TOO_LONG, header[0]);
            continue;
        }
        for (uint16_t i = 0; i < length; ++i) {
            buffer[i] = platform_getc();
        }
        uint32_t received = 0;
        for (int i = 0; i < 4; ++i) {
            received |= (uint32_t)platform_getc() << (8 * i);
        }
        const uint32_t expected = crc32_update(crc32_update(0, header, 4), buffer, length);
        if (received != expected) {
            protocol_send_error(header[1], ERROR_BAD_CRC, header[0]);
            continue;
        }
        frame->type = header[0];
        frame->seq = header[1];
        frame->length = length;
        frame->payload = buffer;
        return;
    }
}
