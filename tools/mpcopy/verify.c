/* SPDX-License-Identifier: MIT */
/* verify.c - what mpcopy --verify computes: sum64, the checksum of a byte
 * stream written for mpcopy, and verify_range, the chunk-by-chunk compare
 * of a source file and its copy that a TASK_VERIFY runs in a worker. The
 * reads go through fs.c (pread_full, hole_ahead). */
#include "mpcopy.h"

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/*===== sum64: the --verify checksum ========================================*/

/* A 64-bit checksum of a byte stream, written for mpcopy. Four lanes each
 * take one little-endian 64-bit word of every 32-byte block: xor, multiply
 * by an odd constant, xor-shift. Each step is a bijection of the lane for
 * a given word, so two streams that differ in one word always leave that
 * lane different; the lanes are independent, so a CPU runs them in
 * parallel. The end mixes the lanes, the zero-padded tail and the length
 * with a strong 64-bit finaliser (the splitmix64 one). */
#define SUM64_MUL 0xD6E8FEB86659FD93ULL
#define SUM64_GOLDEN 0x9E3779B97F4A7C15ULL

/* Reads 8 bytes at p as a little-endian number. */
static uint64_t
load_le64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return le64toh(v);
}

/* splitmix64's finaliser: every input bit affects every output bit. */
static uint64_t
mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* sum64_init starts an empty stream. */
void
sum64_init(struct sum64 *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 4; i++) {
        s->lane[i] = SUM64_GOLDEN * (uint64_t)(i + 1);
    }
}

/* Absorbs the n SUM64_BLOCK-byte blocks at p (the lanes are kept in
 * locals: the compiler cannot know that p does not alias them). */
static void
sum64_blocks(struct sum64 *s, const unsigned char *p, size_t n)
{
    uint64_t l0 = s->lane[0], l1 = s->lane[1], l2 = s->lane[2];
    uint64_t l3 = s->lane[3];
    for (; n > 0; n--, p += SUM64_BLOCK) {
        l0 = (l0 ^ load_le64(p)) * SUM64_MUL;
        l1 = (l1 ^ load_le64(p + 8)) * SUM64_MUL;
        l2 = (l2 ^ load_le64(p + 16)) * SUM64_MUL;
        l3 = (l3 ^ load_le64(p + 24)) * SUM64_MUL;
        l0 ^= l0 >> 29;
        l1 ^= l1 >> 29;
        l2 ^= l2 >> 29;
        l3 ^= l3 >> 29;
    }
    s->lane[0] = l0;
    s->lane[1] = l1;
    s->lane[2] = l2;
    s->lane[3] = l3;
}

/* sum64_update appends len bytes at buf; any split of a stream into
 * updates gives the same sum. */
void
sum64_update(struct sum64 *s, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    if (len == 0) {
        return; /* buf may be NULL */
    }
    s->total += len;
    if (s->tail_len > 0) {
        size_t take = SUM64_BLOCK - s->tail_len;
        take = take < len ? take : len;
        memcpy(s->tail + s->tail_len, p, take);
        s->tail_len += take;
        p += take;
        len -= take;
        if (s->tail_len < SUM64_BLOCK) {
            return;
        }
        sum64_blocks(s, s->tail, 1);
        s->tail_len = 0;
    }
    size_t blocks = len / SUM64_BLOCK;
    sum64_blocks(s, p, blocks);
    p += blocks * SUM64_BLOCK;
    len -= blocks * SUM64_BLOCK;
    memcpy(s->tail, p, len);
    s->tail_len = len;
}

/* sum64_final returns the stream's checksum (s is spent). */
uint64_t
sum64_final(struct sum64 *s)
{
    if (s->tail_len > 0) {
        memset(s->tail + s->tail_len, 0, SUM64_BLOCK - s->tail_len);
        sum64_blocks(s, s->tail, 1);
    }
    uint64_t h = mix64(s->total ^ SUM64_GOLDEN);
    for (int i = 0; i < 4; i++) {
        h = mix64(h ^ s->lane[i]) * SUM64_MUL;
    }
    return mix64(h);
}

/*===== verify_range =======================================================*/

/* sum_chunk reads up to len bytes of fd at pos into buf and returns
 * their checksum in *sum; *got gets the bytes read (fewer at the end of
 * the file). Returns 0 or -1 with errno set. */
static int
sum_chunk(int fd, uint64_t pos, size_t len, char *buf, uint64_t *sum,
          size_t *got)
{
    ssize_t n = pread_full(fd, buf, len, pos);
    if (n < 0) {
        return -1;
    }
    *got = (size_t)n;
    struct sum64 s;
    sum64_init(&s);
    sum64_update(&s, buf, *got);
    *sum = sum64_final(&s);
    return 0;
}

/* verify_range: see mpcopy.h. */
int
verify_range(int src, int dst, uint64_t offset, uint64_t length, char *buf,
             struct task_out *res, const char **what)
{
    struct stat ss, ds;
    if (fstat(src, &ss) != 0 || fstat(dst, &ds) != 0) {
        *what = "stat";
        return -1;
    }
    uint64_t size = (uint64_t)ss.st_size;
    uint64_t end = offset >= size           ? offset
                   : size - offset < length ? size
                                            : offset + length;
    uint64_t src_data = 0, dst_data = 0;
    *res = (struct task_out){.mismatch = ss.st_size != ds.st_size};
    for (uint64_t pos = offset; pos < end && !res->mismatch;) {
        size_t len = end - pos < IO_CHUNK ? (size_t)(end - pos) : IO_CHUNK;
        if (hole_ahead(src, pos, len, &src_data) &&
            hole_ahead(dst, pos, len, &dst_data)) {
            pos += len; /* zeros on both sides */
            continue;
        }
        uint64_t a, b;
        size_t got_src, got_dst;
        if (sum_chunk(src, pos, len, buf, &a, &got_src) != 0) {
            *what = "read source";
            return -1;
        }
        if (sum_chunk(dst, pos, len, buf, &b, &got_dst) != 0) {
            *what = "read copy";
            return -1;
        }
        if (a != b || got_src != got_dst) {
            res->mismatch = 1;
            res->src_sum = a;
            res->dst_sum = b;
        }
        if (got_src < len) {
            break; /* the source shrank */
        }
        pos += len;
    }
    res->bytes = end - offset;
    return 0;
}
