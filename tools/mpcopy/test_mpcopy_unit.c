/* SPDX-License-Identifier: MIT */
/* test_mpcopy_unit.c - unit tests of the pieces of mpcopy that a whole
 * run cannot reach honestly: the --verify machinery (a correct copy never
 * mismatches: the sum64 checksum and verify_range), copy_data (holes
 * kept, data moved by copy_file_range where the kernel offers it), the
 * paths under a root (the kept last directory never hands out the wrong
 * one; a copy replaces what a killed attempt left), a task's records
 * (a batch decodes whole, a malformed one not at all) and the status line
 * (fits every width, no rate from a tiny interval). Linked
 * with the tool's own objects (all but main.c), so the code under test is
 * the tool's. Prints "ok NAME" per check; exit 1 on the first failure. */
#include "mpcopy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

    int fds[] = {src,  same,   changed, shorter, zeros,
                 hole, empty1, empty2,  wronly};
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
    unsigned ways = 0;
    int64_t n = copy_data(src, dst, 0, len, false, buf, &ways, &what);
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

/* Where this kernel and file system copy in the kernel (probed with a
 * raw copy_file_range between two temporary files), copy_data uses it
 * and not the user buffer; the bytes are the same either way. */
static void
test_copy_data_in_kernel(void)
{
    size_t len = 3 * IO_CHUNK + 777;
    char *data = malloc(len), *buf = malloc(IO_CHUNK), *back = malloc(len);
    CHECK(data != NULL && buf != NULL && back != NULL);
    for (size_t i = 0; i < len; i++) {
        data[i] = (char)(i * 7 + (i >> 12));
    }
    int src = temp_file((unsigned char *)data, len);
    int probe = temp_file(NULL, 0);
    loff_t in = 0, out = 0;
    bool kernel_copies = copy_file_range(src, &in, probe, &out, 4096, 0) > 0;
    close(probe);
    int dst = temp_file(NULL, 0);
    const char *what = NULL;
    unsigned ways = 0;
    CHECK(copy_data(src, dst, 0, len, true, buf, &ways, &what) == (int64_t)len);
    CHECK(pread(dst, back, len, 0) == (ssize_t)len);
    CHECK(memcmp(data, back, len) == 0);
    if (kernel_copies) {
        CHECK(ways == WAY_RANGE);
        puts("ok copy_data_in_kernel");
    } else {
        CHECK(ways == WAY_BUFFER);
        puts("ok copy_data_in_kernel (no copy_file_range here: buffer)");
    }
    close(src);
    close(dst);
    free(data);
    free(buf);
    free(back);
}

/* Writes text to the new file rel under the directory dfd. */
static void
put_file(int dfd, const char *rel, const char *text)
{
    int fd = openat(dfd, rel, O_WRONLY | O_CREAT | O_EXCL, 0644);
    CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

/* The text of rel under the source root (empty when it is missing). */
static const char *
source_text(const char *rel)
{
    static char text[64];
    struct stat st;
    int fd = open_source(rel, &st);
    ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : 0;
    text[n > 0 ? n : 0] = '\0';
    if (fd >= 0) {
        CHECK(st.st_size == n);
        close(fd);
    }
    return text;
}

/* open_parent keeps the last directory it walked to: the next entry in
 * the same directory gets it, and any other directory, including one whose
 * name begins with the kept one's ("a/b" then "a/bc") or ends it, its own;
 * the same under two roots taken in turn. create_copy replaces what an
 * earlier attempt left in the copy's place. */
static void
test_paths_under_roots(void)
{
    char src_dir[] = "/tmp/mpcopy-unit-src.XXXXXX";
    char dst_dir[] = "/tmp/mpcopy-unit-dst.XXXXXX";
    CHECK(mkdtemp(src_dir) != NULL && mkdtemp(dst_dir) != NULL);
    int sroot = open(src_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int droot = open(dst_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int sdir = open(src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(sroot >= 0 && droot >= 0 && sdir >= 0);
    const char *dirs[] = {"a", "a/b", "a/bc", "a/b/c", "b", "b/b"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        CHECK(mkdirat(sdir, dirs[i], 0755) == 0);
        CHECK(mkdirat(droot, dirs[i], 0755) == 0);
    }
    const char *files[] = {"a/b/f", "a/b/g", "a/bc/f", "a/b/c/f", "b/b/f",
                           "a/f",   "b/f",   "top",    "a/b/h"};
    size_t nfiles = sizeof files / sizeof files[0];
    for (size_t i = 0; i < nfiles; i++) {
        put_file(sdir, files[i], files[i]); /* each file holds its path */
    }
    struct roots saved = g_roots;
    g_roots.src_fd = sroot;
    g_roots.dst_fd = droot;
    /* Every order: forwards, backwards, and source and copy in turn. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < nfiles; k++) {
            const char *rel = files[pass == 0 ? k : nfiles - 1 - k];
            CHECK(strcmp(source_text(rel), rel) == 0);
            int fd = create_copy(rel); /* the second pass replaces */
            CHECK(fd >= 0 && write(fd, rel, 1) == 1);
            close(fd);
            char leaf[NAME_MAX + 1];
            int dfd = dst_parent(rel, leaf);
            struct stat st;
            CHECK(dfd >= 0 && fstatat(dfd, leaf, &st, 0) == 0);
            CHECK(st.st_size == 1); /* replaced, not appended to */
            close(dfd);
        }
    }
    /* Names too long for one component are refused, kept dir or not. */
    char long_rel[NAME_MAX + 8] = "a/b/";
    memset(long_rel + 4, 'x', NAME_MAX + 1);
    long_rel[NAME_MAX + 5] = '\0';
    char leaf[NAME_MAX + 1];
    CHECK(open_parent(sroot, long_rel, leaf) == -1 && errno == ENAMETOOLONG);
    g_roots = saved;
    close(sroot);
    close(droot);
    close(sdir);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", src_dir, dst_dir);
    CHECK(system(cmd) == 0);
    puts("ok paths_under_roots");
}

/* put_record appends a task record (kind, path rel, rel_len as given)
 * at p; returns the end. */
static char *
put_record(char *p, uint32_t kind, const char *rel, uint32_t rel_len)
{
    struct task_in t = {.kind = kind, .rel_len = rel_len};
    memcpy(p, &t, sizeof t);
    memcpy(p + sizeof t, rel, strlen(rel) + 1);
    return p + sizeof t + strlen(rel) + 1;
}

/* A batch of records decodes into each one's kind and path; an input cut
 * inside a record, a path longer than its input, a NUL inside a path or more
 * than BATCH_FILES records decode to nothing. */
static void
test_task_records(void)
{
    static char in[(BATCH_FILES + 2) * (sizeof(struct task_in) + 8)];
    static struct record recs[BATCH_FILES];
    char *end = put_record(in, TASK_COPY_FILE, "a", 1);
    end = put_record(end, TASK_COPY_FILE, "dir/b", 5);
    end = put_record(end, TASK_VERIFY, "c", 1);
    size_t len = (size_t)(end - in);
    CHECK(decode_records(in, len, recs) == 3);
    CHECK(strcmp(recs[0].rel, "a") == 0 && strcmp(recs[1].rel, "dir/b") == 0);
    CHECK(recs[2].t.kind == TASK_VERIFY && recs[1].src == -1);
    size_t first = sizeof(struct task_in) + 2;
    size_t second = first + sizeof(struct task_in) + 6;
    for (size_t cut = 0; cut < len; cut++) {
        /* Cut between records: the records before; else nothing. */
        size_t want = cut == first ? 1 : cut == second ? 2 : 0;
        CHECK(decode_records(in, cut, recs) == want);
    }
    put_record(in, TASK_COPY_FILE, "a", 200); /* beyond the input */
    CHECK(decode_records(in, len, recs) == 0);
    put_record(in, TASK_COPY_FILE, "a", 1);
    in[sizeof(struct task_in) + 2 + sizeof(struct task_in) + 1] = '\0';
    CHECK(decode_records(in, len, recs) == 0); /* "dir/b" now "d\0r/b" */
    end = in;
    for (int i = 0; i < BATCH_FILES; i++) {
        end = put_record(end, TASK_COPY_FILE, "f", 1);
    }
    CHECK(decode_records(in, (size_t)(end - in), recs) == BATCH_FILES);
    end = put_record(end, TASK_COPY_FILE, "f", 1);
    CHECK(decode_records(in, (size_t)(end - in), recs) == 0);
    puts("ok task_records");
}

/* The status line never reaches the terminal's last column, at any
 * width and with the largest counts; a wide terminal gets every field;
 * while the scan goes on, the totals found so far, marked, and no ETA. */
static void
test_status_fits_width(void)
{
    struct status_view big = {.label = "verify",
                              .files = 123456789012ULL,
                              .total_files = 999999999999ULL,
                              .bytes = 5ULL << 50,
                              .total_bytes = 7ULL << 50,
                              .elapsed = 98765.4};
    struct status_view scan = {.label = "copy",
                               .scanning = true,
                               .files = 1234,
                               .total_files = 57146,
                               .bytes = 12ULL << 20,
                               .total_bytes = 740ULL << 20,
                               .elapsed = 2.0};
    char buf[400];
    for (size_t width = 2; width <= sizeof buf; width++) {
        size_t n = format_status(buf, width, &big);
        CHECK(n == strlen(buf) && n <= width - 1 && n >= 1);
        CHECK(strchr(buf, '\n') == NULL && strchr(buf, '\r') == NULL);
        n = format_status(buf, width, &scan);
        CHECK(n <= width - 1);
    }
    struct status_view v = {.label = "copy",
                            .files = 10,
                            .total_files = 40,
                            .bytes = 100 << 20,
                            .total_bytes = 400 << 20,
                            .elapsed = 2.0};
    CHECK(format_status(buf, 80, &v) <= 79);
    CHECK(strstr(buf, "10/40 files (25%)") != NULL);
    CHECK(strstr(buf, "100.0 MiB/400.0 MiB") != NULL);
    CHECK(strstr(buf, "50.0 MiB/s") != NULL && strstr(buf, "ETA 0:06"));
    format_status(buf, 20, &v);
    CHECK(strncmp(buf, "copy: 25%", 9) == 0);
    format_status(buf, 200, &scan);
    CHECK(strstr(buf, "1234/57146+ files") != NULL);
    CHECK(strstr(buf, "12.0 MiB/740.0 MiB+") != NULL);
    CHECK(strstr(buf, "6.0 MiB/s") != NULL && strstr(buf, "scanning"));
    CHECK(strstr(buf, "ETA") == NULL && strchr(buf, '%') == NULL);
    format_status(buf, 24, &scan);
    CHECK(strcmp(buf, "copy: scanning") == 0);
    puts("ok status_fits_width");
}

/* The first ticks of a phase show no rate and no ETA: 1 GiB done in a
 * millisecond (files that were cloned, or already in the cache) is not a
 * rate worth showing. */
static void
test_status_first_tick_rate(void)
{
    struct status_view v = {.label = "copy",
                            .files = 3,
                            .total_files = 9,
                            .bytes = 1ULL << 30,
                            .total_bytes = 3ULL << 30,
                            .elapsed = 0.001};
    char buf[200];
    format_status(buf, sizeof buf, &v);
    CHECK(strstr(buf, "/s") == NULL && strstr(buf, "GiB/s") == NULL);
    CHECK(strstr(buf, "--") != NULL && strstr(buf, "ETA ?") != NULL);
    v.elapsed = 4.0;
    format_status(buf, sizeof buf, &v);
    CHECK(strstr(buf, "256.0 MiB/s") != NULL && strstr(buf, "ETA 0:08"));
    puts("ok status_first_tick_rate");
}

int
main(void)
{
    test_sum_streaming();
    test_sum_detects_changes();
    test_verify_range();
    test_copy_data_keeps_holes();
    test_copy_data_in_kernel();
    test_paths_under_roots();
    test_task_records();
    test_status_fits_width();
    test_status_first_tick_rate();
    return 0;
}
