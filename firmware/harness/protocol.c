/* Device side of the framed serial protocol, version 3. The layout is described in protocol.h
 * and in host/tinyhil/protocol.py: 0xA5 0x5A | type | seq | length u16 LE (0xFFFF: a u32 LE
 * length follows) | payload | CRC-32 LE over type .. payload. */
#include "protocol.h"

#include "crc32.h"
#include "platform.h"

void put_u32(uint8_t *out, uint32_t value)
{
    for (int i = 0; i < 4; ++i) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

static void send_bytes(const uint8_t *data, uint32_t length)
{
    for (uint32_t i = 0; i < length; ++i) {
        platform_putc(data[i]);
    }
}

void protocol_send_parts(uint8_t type, uint8_t seq, const struct frame_part *parts, unsigned count)
{
    uint32_t length = 0;
    for (unsigned i = 0; i < count; ++i) {
        length += parts[i].length;
    }
    /* magic | type | seq | u16 length, then the u32 length when the u16 is the escape */
    uint8_t header[10] = {FRAME_MAGIC0, FRAME_MAGIC1, type, seq};
    unsigned header_length = 6;
    if (length < FRAME_LENGTH_ESCAPE) {
        header[4] = (uint8_t)length;
        header[5] = (uint8_t)(length >> 8);
    } else {
        header[4] = header[5] = 0xFFu;
        put_u32(&header[6], length);
        header_length = 10;
    }
    uint32_t crc = crc32_update(0, &header[2], header_length - 2);
    for (unsigned i = 0; i < count; ++i) {
        crc = crc32_update(crc, parts[i].data, parts[i].length);
    }
    uint8_t trailer[4];
    put_u32(trailer, crc);
    send_bytes(header, header_length);
    for (unsigned i = 0; i < count; ++i) {
        send_bytes(parts[i].data, parts[i].length);
    }
    send_bytes(trailer, sizeof trailer);
}

void protocol_send(uint8_t type, uint8_t seq, const uint8_t *head, uint32_t head_length,
                   const uint8_t *body, uint32_t body_length)
{
    const struct frame_part parts[2] = {{head, head_length}, {body, body_length}};
    protocol_send_parts(type, seq, parts, 2);
}

void protocol_send_error(uint8_t seq, uint8_t code, uint8_t offending_type, const uint8_t *detail,
                         uint32_t detail_length)
{
    const uint8_t head[2] = {code, offending_type};
    protocol_send(FRAME_ERROR, seq, head, sizeof head, detail, detail_length);
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

static void read_bytes(uint8_t *out, uint32_t length)
{
    for (uint32_t i = 0; i < length; ++i) {
        out[i] = platform_getc();
    }
}

uint32_t get_u32(const uint8_t *in)
{
    return (uint32_t)in[0] | ((uint32_t)in[1] << 8) | ((uint32_t)in[2] << 16) | ((uint32_t)in[3] << 24);
}

void protocol_receive_header(struct frame_header *header)
{
    hunt_magic();
    uint8_t bytes[8];
    read_bytes(bytes, 4);
    uint32_t length = (uint32_t)bytes[2] | ((uint32_t)bytes[3] << 8);
    unsigned crc_bytes = 4;
    if (length == FRAME_LENGTH_ESCAPE) {
        read_bytes(&bytes[4], 4);
        length = get_u32(&bytes[4]);
        crc_bytes = 8;
    }
    header->type = bytes[0];
    header->seq = bytes[1];
    header->length = length;
    header->crc = crc32_update(0, bytes, crc_bytes);
}

int protocol_receive_payload(const struct frame_header *header, uint8_t *destination)
{
    read_bytes(destination, header->length);
    uint8_t trailer[4];
    read_bytes(trailer, 4);
    if (get_u32(trailer) != crc32_update(header->crc, destination, header->length)) {
        protocol_send_error(header->seq, ERROR_BAD_CRC, header->type, 0, 0);
        return 0;
    }
    return 1;
}
