#ifndef TINYHIL_CRC32_H
#define TINYHIL_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320): the same value as Python's zlib.crc32. */
uint32_t crc32_update(uint32_t crc, const uint8_t *data, size_t length);

#endif
