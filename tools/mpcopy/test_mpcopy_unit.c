/* SPDX-License-Identifier: MIT */
/* test_mpcopy_unit.c - unit tests of mpcopy's --verify machinery, which a
 * whole run cannot reach honestly (a correct copy never mismatches): the
 * sum64 checksum and verify_range, the compare a TASK_VERIFY runs in a
 * worker. Built from mpcopy.c itself, without its main(), so the code
 * under test is the tool's own. Prints "ok NAME" per check; exit 1 on the
 * first failure. */
#pragma GCC diagnostic ignored "-Wunused-function"
#define MPCOPY_NO_MAIN
#include "mpcopy.c"

#undef NDEBUG
#include <assert.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* The sum of len bytes at p in one update. */
static uint64_t
sum_of(const void *p, size_t len)
{
    struct sum64 s;
    sum64_init(&s);
    sum64_update(&s, p, len);
    return sum64_final(&s);
}

/* Any split of a stream into updates gives the sum of the whole. */
static void
test_sum_streaming(void)
{
    unsigned char data[1000];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (unsigned char)(i * 131 + 7);
    }
    uint64_t whole = sum_of(data, sizeof data);
    for (size_t step = 1; step <= 97; step += 3) {
        struct sum64 s;
        sum64_init(&s);
        for (size_t off = 0; off < sizeof data; off += step) {
            size_t n = sizeof data - off < step ? sizeof data - off : step;
            sum64_update(&s, data + off, n);
        }
        CHECK(sum64_final(&s) == whole);
    }
    puts("ok sum_streaming");
}

/* Every single-bit flip, a trailing zero byte and a swap of two words
 * change the sum; the empty stream and one zero byte differ. */
static void
test_sum_detects_changes(void)
{
    unsigned char data[100];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (unsigned char)i;
    }
    uint64_t base = sum_of(data, sizeof data);
    for (size_t bit = 0; bit < 8 * sizeof data; bit++) {
        data[bit / 8] ^= (unsigned char)(1u << bit % 8);
        CHECK(sum_of(data, sizeof data) != base);
        data[bit / 8] ^= (unsigned char)(1u << bit % 8);
    }
    unsigned char longer[101] = {0};
    memcpy(longer, data, sizeof data);
    CHECK(sum_of(longer, sizeof longer) != base);
    unsigned char swapped[100];
    memcpy(swapped, data + 8, 8);
    memcpy(swapped + 8, data, 8);
    memcpy(swapped + 16, data + 16, sizeof data - 16);
    CHECK(sum_of(swapped, sizeof swapped) != base);
    unsigned char zero = 0;
    CHECK(sum_of(NULL, 0) != sum_of(&zero, 1));
    puts("ok sum_detects_changes");
}

/* A temporary file with len bytes of data (NULL: a hole of len bytes). */
static int
temp_file(const unsigned char *data, size_t len)
{
    char path[] = "/tmp/mpcopy-unit-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    if (data != NULL) {
        CHECK(pwrite(fd, data, len, 0) == (ssize_t)len);
    } else {
        CHECK(ftruncate(fd, (off_t)len) == 0);
    }
    return fd;
}

/* verify_range: equal files match (whole and by range, a hole against
 * written zeros too); one changed byte or a different size mismatch. */
static void
test_verify_range(void)
{
    size_t len = 3 * IO_CHUNK + 12345;
    unsigned char *data = calloc(1, len);
    char *buf = malloc(IO_CHUNK);
    CHECK(data != NULL && buf != NULL);
    for (size_t i = 0; i < len; i += 7) {
        data[i] = (unsigned char)(i >> 3);
    }
    int src = temp_file(data, len);
    int same = temp_file(data, len);
    struct task_out res;
    const char *what = NULL;

    CHECK(verify_range(src, same, 0, UINT64_MAX, buf, &res, &what) == 0);
    CHECK(!res.mismatch && res.src_sum == 0 && res.dst_sum == 0);
    CHECK(res.bytes == len);
    CHECK(verify_range(src, same, IO_CHUNK, 1000, buf, &res, &what) == 0);
    CHECK(!res.mismatch && res.bytes == 1000);

    data[2 * IO_CHUNK + 5] ^= 0x40; /* one byte in the third chunk */
    int changed = temp_file(data, len);
    CHECK(verify_range(src, changed, 0, UINT64_MAX, buf, &res, &what) == 0);
    CHECK(res.mismatch && res.src_sum != res.dst_sum);
    /* A range that does not hold the byte still matches. */
    CHECK(verify_range(src, changed, 0, IO_CHUNK, buf, &res, &what) == 0);
    CHECK(!res.mismatch);

    int shorter = temp_file(data, len - 1);
    CHECK(verify_range(src, shorter, 0, IO_CHUNK, buf, &res, &what) == 0);
    CHECK(res.mismatch); /* same bytes in the range, other size */

    memset(data, 0, len);
    int zeros = temp_file(data, len);
    int hole = temp_file(NULL, len);
    CHECK(verify_range(zeros, hole, 0, UINT64_MAX, buf, &res, &what) == 0);
    CHECK(!res.mismatch);

    int empty1 = temp_file(data, 0), empty2 = temp_file(data, 0);
    CHECK(verify_range(empty1, empty2, 0, UINT64_MAX, buf, &res, &what) == 0);
    CHECK(!res.mismatch && res.bytes == 0);

    /* A copy that cannot be read (the same file opened write-only)
     * fails with the step named. */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", same);
    int wronly = open(path, O_WRONLY);
    CHECK(wronly >= 0);
    CHECK(verify_range(src, wronly, 0, UINT64_MAX, buf, &res, &what) == -1);
    CHECK(strcmp(what, "read copy") == 0);

    int fds[] = {src, same, changed, shorter, zeros, hole, empty1, empty2,
                 wronly};
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++) {
        close(fds[i]);
    }
    free(data);
    free(buf);
    puts("ok verify_range");
}

/* copy_data keeps holes: a sparse source's copy gets no blocks where
 * the source had none, and the same bytes. */
static void
test_copy_data_keeps_holes(void)
{
    size_t len = 64 * IO_CHUNK;
    char *buf = malloc(IO_CHUNK);
    CHECK(buf != NULL);
    int src = temp_file(NULL, len);
    CHECK(pwrite(src, "island", 6, (off_t)(len / 2)) == 6);
    int dst = temp_file(NULL, len);
    const char *what = NULL;
    int64_t n = copy_data(src, dst, 0, len, buf, &what);
    CHECK(n > 0 && (size_t)n < len / 4);
    struct stat st;
    CHECK(fstat(dst, &st) == 0 && (uint64_t)st.st_blocks * 512 < len / 4);
    struct task_out res;
    CHECK(verify_range(src, dst, 0, UINT64_MAX, buf, &res, &what) == 0);
    CHECK(!res.mismatch);
    close(src);
    close(dst);
    free(buf);
    puts("ok copy_data_keeps_holes");
}

int
main(void)
{
    test_sum_streaming();
    test_sum_detects_changes();
    test_verify_range();
    test_copy_data_keeps_holes();
    return 0;
}
