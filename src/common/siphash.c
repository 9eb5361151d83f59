/* SPDX-License-Identifier: MIT */
/* siphash.c - SipHash-1-3, the keyed hash of the manager's dicts, written
 * from the published algorithm (Aumasson and Bernstein, "SipHash: a fast
 * short-input PRF", 2012; 1 compression and 3 finalization rounds, the
 * variant CPython and Rust use for their hash tables). With a secret key,
 * an outsider cannot precompute keys whose hashes collide. */
#include "mp_internal.h"

static inline uint64_t
rotl64(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

/* One SipRound over the state v[0..3]. */
static inline void
sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl64(v[1], 13);
    v[1] ^= v[0];
    v[0] = rotl64(v[0], 32);
    v[2] += v[3];
    v[3] = rotl64(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = rotl64(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = rotl64(v[1], 17);
    v[1] ^= v[2];
    v[2] = rotl64(v[2], 32);
}

/* The little-endian 64-bit word at p. */
static inline uint64_t
load_le64(const uint8_t *p)
{
    uint64_t m = 0;
    for (int i = 0; i < 8; i++) {
        m |= (uint64_t)p[i] << (8 * i);
    }
    return m;
}

uint64_t
mp__siphash13(const uint64_t key[2], const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t v[4] = {
        key[0] ^ 0x736f6d6570736575ull, /* "somepseu" */
        key[1] ^ 0x646f72616e646f6dull, /* "dorandom" */
        key[0] ^ 0x6c7967656e657261ull, /* "lygenera" */
        key[1] ^ 0x7465646279746573ull, /* "tedbytes" */
    };
    size_t whole = len - len % 8;
    for (size_t off = 0; off < whole; off += 8) {
        uint64_t m = load_le64(p + off);
        v[3] ^= m;
        sip_round(v);
        v[0] ^= m;
    }
    /* The last word: the remaining bytes, and the length's low byte on
     * top. */
    uint64_t m = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++) {
        m |= (uint64_t)p[whole + i] << (8 * i);
    }
    v[3] ^= m;
    sip_round(v);
    v[0] ^= m;
    v[2] ^= 0xff;
    sip_round(v);
    sip_round(v);
    sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}
