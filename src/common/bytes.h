/* SPDX-License-Identifier: MIT */
/* bytes.h - the one byte-order codec: unsigned integers of 1 to 8 bytes
 * stored in and read from byte buffers, little-endian (the manager's wire,
 * packed lists, function references) or big-endian (the frame headers of
 * Python's multiprocessing.connection). Inline: a field costs a few
 * shifts, and compilers turn the loops into one load or store. */
#ifndef MP_BYTES_H
#define MP_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* mp__put_le stores the low n bytes (1..8) of v at p, least significant
 * first. */
static inline void
mp__put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* mp__get_le reads n bytes (1..8) at p, least significant first. */
static inline uint64_t
mp__get_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

/* mp__put_be stores the low n bytes (1..8) of v at p, most significant
 * first. */
static inline void
mp__put_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[n - 1 - i] = (uint8_t)(v >> (8 * i));
    }
}

/* mp__get_be reads n bytes (1..8) at p, most significant first. */
static inline uint64_t
mp__get_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

#endif /* MP_BYTES_H */
