/* SPDX-License-Identifier: MIT */
/* test-shareable-list.c - ShareableList: every item type read and written,
 * Python's indexes, formats and errors (wrong type, out of range, oversized
 * values, bad UTF-8, a block that holds no list, a closed list), writes seen
 * across processes, and interop with CPython 3.8+ in both directions and
 * byte for byte (tests/py_shareable_peer.py). */
#include "runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* --- helpers ------------------------------------------------------------ */

/* The items of the interop tests: keep in step with ITEMS and WRITES in
 * py_shareable_peer.py. */
#define N_ITEMS 12
static const mp_shareable_item_t ITEMS[N_ITEMS] = {
    {.type = MP_SHAREABLE_INT64, .i64 = 42},
    {.type = MP_SHAREABLE_INT64, .i64 = -7},
    {.type = MP_SHAREABLE_DOUBLE, .f64 = 3.5},
    {.type = MP_SHAREABLE_BOOL, .b = true},
    {.type = MP_SHAREABLE_BOOL, .b = false},
    {.type = MP_SHAREABLE_NONE},
    {.type = MP_SHAREABLE_STR, .data = "hello", .len = 5},
    {.type = MP_SHAREABLE_STR, .data = "", .len = 0},
    {.type = MP_SHAREABLE_STR, .data = "exactly8", .len = 8},
    {.type = MP_SHAREABLE_BYTES, .data = "\0ab\0", .len = 4},
    {.type = MP_SHAREABLE_STR, .data = "h\xc3\xa9llo", .len = 6},
    {.type = MP_SHAREABLE_INT64, .i64 = INT64_MAX},
};

/* Writes "mp-<pid>-<suffix>": a name the runner's leak check knows as this
 * test's. */
static void
sl_test_name(char *buf, size_t len, const char *suffix)
{
    snprintf(buf, len, "mp-%d-%s", (int)getpid(), suffix);
}

/* Checks that item i of l is an int64 equal to want. */
static void
expect_int(const mp_shareable_list_t *l, ssize_t i, int64_t want)
{
    int64_t v = 0;
    ASSERT_OK(mp_shareable_list_get_int64(l, i, &v));
    ASSERT_EQ(v, want);
}

/* Checks that item i of l is a str or bytes (type) equal to want. */
static void
expect_text(const mp_shareable_list_t *l, ssize_t i, int type, const char *want,
            size_t want_len)
{
    ASSERT_EQ(mp_shareable_list_type(l, i), type);
    void *got = NULL;
    ssize_t n = type == MP_SHAREABLE_STR
                    ? mp_shareable_list_get_str(l, i, (char **)&got)
                    : mp_shareable_list_get_bytes(l, i, &got);
    ASSERT_EQ(n, (ssize_t)want_len);
    ASSERT_MEM_EQ(got, want, want_len);
    ASSERT_EQ(((char *)got)[n], '\0');
    mp_free(got);
}

/* Checks that item i has format want. */
static void
expect_format(const mp_shareable_list_t *l, ssize_t i, const char *want)
{
    char fmt[MP_SHAREABLE_FORMAT_MAX];
    ASSERT_OK(mp_shareable_list_format(l, i, fmt, sizeof fmt));
    ASSERT_STR_EQ(fmt, want);
}

/* Checks that l holds ITEMS. */
static void
expect_items(const mp_shareable_list_t *l)
{
    ASSERT_EQ(mp_shareable_list_len(l), N_ITEMS);
    expect_int(l, 0, 42);
    expect_int(l, 1, -7);
    double d = 0;
    ASSERT_OK(mp_shareable_list_get_double(l, 2, &d));
    ASSERT(d == 3.5);
    bool b = false;
    ASSERT_OK(mp_shareable_list_get_bool(l, 3, &b));
    ASSERT(b);
    ASSERT_OK(mp_shareable_list_get_bool(l, 4, &b));
    ASSERT(!b);
    ASSERT_EQ(mp_shareable_list_type(l, 5), MP_SHAREABLE_NONE);
    expect_text(l, 6, MP_SHAREABLE_STR, "hello", 5);
    expect_text(l, 7, MP_SHAREABLE_STR, "", 0);
    expect_text(l, 8, MP_SHAREABLE_STR, "exactly8", 8);
    /* Python drops a bytes item's trailing NULs (rstrip) */
    expect_text(l, 9, MP_SHAREABLE_BYTES, "\0ab", 3);
    expect_text(l, 10, MP_SHAREABLE_STR, "h\xc3\xa9llo", 6);
    expect_int(l, 11, INT64_MAX);
}

/* Writes what py_shareable_peer.py's WRITES holds into l. */
static void
write_writes(mp_shareable_list_t *l)
{
    ASSERT_OK(mp_shareable_list_set_int64(l, 0, -1));
    ASSERT_OK(mp_shareable_list_set_double(l, 1, 2.25));
    ASSERT_OK(mp_shareable_list_set_str(l, 2, "new", 3));
    ASSERT_OK(mp_shareable_list_set_bytes(l, 3, "xyz", 3));
    ASSERT_OK(mp_shareable_list_set_none(l, 4));
    ASSERT_OK(mp_shareable_list_set_bool(l, 5, true));
    ASSERT_OK(mp_shareable_list_set_double(l, 6, 0.0));
    ASSERT_OK(mp_shareable_list_set_int64(l, 7, 12345));
    ASSERT_OK(mp_shareable_list_set_str(l, 8, "exactly8", 8));
    ASSERT_OK(mp_shareable_list_set_bytes(l, 9, "", 0));
    ASSERT_OK(mp_shareable_list_set_str(l, 10, "hi", 2));
    ASSERT_OK(mp_shareable_list_set_str(l, 11, "\xc3\xa9", 2));
}

/* Checks that l holds WRITES. */
static void
expect_writes(const mp_shareable_list_t *l)
{
    expect_int(l, 0, -1);
    double d = -1;
    ASSERT_OK(mp_shareable_list_get_double(l, 1, &d));
    ASSERT(d == 2.25);
    expect_text(l, 2, MP_SHAREABLE_STR, "new", 3);
    expect_text(l, 3, MP_SHAREABLE_BYTES, "xyz", 3);
    ASSERT_EQ(mp_shareable_list_type(l, 4), MP_SHAREABLE_NONE);
    bool b = false;
    ASSERT_OK(mp_shareable_list_get_bool(l, 5, &b));
    ASSERT(b);
    ASSERT_OK(mp_shareable_list_get_double(l, 6, &d));
    ASSERT(d == 0.0);
    expect_int(l, 7, 12345);
    expect_text(l, 8, MP_SHAREABLE_STR, "exactly8", 8);
    expect_text(l, 9, MP_SHAREABLE_BYTES, "", 0);
    expect_text(l, 10, MP_SHAREABLE_STR, "hi", 2);
    expect_text(l, 11, MP_SHAREABLE_STR, "\xc3\xa9", 2);
}

/* Runs py_shareable_peer.py MODE NAME and returns its exit status (skips
 * the test without a python3 that has ShareableList). */
static int
run_python(const char *mode, const char *name)
{
    if (system("python3 -c 'import multiprocessing.shared_memory' "
               ">/dev/null 2>&1") != 0) {
        mpt_skip("no python3 with multiprocessing.shared_memory");
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "python3 %s/py_shareable_peer.py %s %s",
             MP_TEST_SOURCE_DIR, mode, name);
    int st = system(cmd);
    ASSERT(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* --- the C API ---------------------------------------------------------- */

TEST(shareable_list_items_and_formats)
{
    mp_shareable_list_t *l = NULL;
    ASSERT_OK(mp_shareable_list_create(&l, NULL, ITEMS, N_ITEMS, 0));
    expect_items(l);
    expect_format(l, 0, "q");
    expect_format(l, 2, "d");
    expect_format(l, 3, "xxxxxxx?");
    expect_format(l, 5, "xxxxxx?x");
    expect_format(l, 6, "8s");
    expect_format(l, 7, "8s");
    expect_format(l, 8, "16s");
    /* 8 + 8 * 13 of header, 13 rooms of 8 and one of 16 (=104), 9 * 12 */
    ASSERT_EQ(mp_shm_size(mp_shareable_list_shm(l)), 8 + 8 * 13 + 104 + 108);
    /* Python's indexes */
    expect_int(l, -1, INT64_MAX);
    expect_int(l, -N_ITEMS, 42);
    int64_t v;
    ASSERT_ERR(mp_shareable_list_get_int64(l, N_ITEMS, &v), MP_ERANGE);
    ASSERT_ERR(mp_shareable_list_get_int64(l, -N_ITEMS - 1, &v), MP_ERANGE);
    ASSERT_ERR(mp_shareable_list_set_int64(l, N_ITEMS, 1), MP_ERANGE);
    ASSERT_ERR(mp_shareable_list_type(l, 99), MP_ERANGE);
    /* a getter of another type */
    ASSERT_ERR(mp_shareable_list_get_int64(l, 2, &v), MP_EKIND);
    double d;
    ASSERT_ERR(mp_shareable_list_get_double(l, 0, &d), MP_EKIND);
    bool b;
    ASSERT_ERR(mp_shareable_list_get_bool(l, 5, &b), MP_EKIND);
    char *s;
    ASSERT_ERR(mp_shareable_list_get_str(l, 9, &s), MP_EKIND);
    void *bytes;
    ASSERT_ERR(mp_shareable_list_get_bytes(l, 6, &bytes), MP_EKIND);
    /* any item takes any type; its format follows */
    ASSERT_OK(mp_shareable_list_set_str(l, 0, "abcdefgh", 8));
    expect_text(l, 0, MP_SHAREABLE_STR, "abcdefgh", 8);
    expect_format(l, 0, "8s");
    ASSERT_OK(mp_shareable_list_set_double(l, 8, -0.5));
    expect_format(l, 8, "d");
    /* the room stays 16: a str of 16 fits again, with format "16s" */
    ASSERT_OK(mp_shareable_list_set_str(l, 8, "sixteen-bytes-ok", 16));
    expect_format(l, 8, "16s");
    expect_text(l, 8, MP_SHAREABLE_STR, "sixteen-bytes-ok", 16);
    /* oversized: MP_EOVERFLOW (ValueError), nothing changes */
    ASSERT_ERR(mp_shareable_list_set_str(l, 6, "123456789", 9), MP_EOVERFLOW);
    ASSERT_ERR(mp_shareable_list_set_bytes(l, 8, "12345678901234567", 17),
               MP_EOVERFLOW);
    expect_text(l, 6, MP_SHAREABLE_STR, "hello", 5);
    expect_text(l, 8, MP_SHAREABLE_STR, "sixteen-bytes-ok", 16);
    /* a str must be UTF-8 that Python decodes */
    ASSERT_ERR(mp_shareable_list_set_str(l, 6, "\xff", 1), MP_EINVAL);
    ASSERT_ERR(mp_shareable_list_set_str(l, 6, "\xc0\x80", 2), MP_EINVAL);
    ASSERT_ERR(mp_shareable_list_set_str(l, 6, "\xed\xa0\x80", 3), MP_EINVAL);
    ASSERT_ERR(mp_shareable_list_set_str(l, 6, "\xc3", 1), MP_EINVAL);
    ASSERT_OK(mp_shareable_list_set_str(l, 6, "\xf0\x9f\x98\x80", 4));
    expect_text(l, 6, MP_SHAREABLE_STR, "\xf0\x9f\x98\x80", 4);
    ASSERT_OK(mp_shm_unlink(mp_shareable_list_shm(l)));
    mp_shareable_list_destroy(l);
}

TEST(shareable_list_bad_input)
{
    mp_shareable_list_t *l = NULL;
    ASSERT_ERR(mp_shareable_list_create(NULL, NULL, ITEMS, 1, 0), MP_EINVAL);
    ASSERT_ERR(mp_shareable_list_create(&l, NULL, NULL, 1, 0), MP_EINVAL);
    mp_shareable_item_t bad = {.type = (mp_shareable_type_t)0};
    ASSERT_ERR(mp_shareable_list_create(&l, NULL, &bad, 1, 0), MP_EINVAL);
    bad = (mp_shareable_item_t){.type = MP_SHAREABLE_BYTES, .len = 3};
    ASSERT_ERR(mp_shareable_list_create(&l, NULL, &bad, 1, 0), MP_EINVAL);
    bad = (mp_shareable_item_t){
        .type = MP_SHAREABLE_STR, .data = "\x80", .len = 1};
    ASSERT_ERR(mp_shareable_list_create(&l, NULL, &bad, 1, 0), MP_EINVAL);
    /* Python's limit: a room whose format needs more than 8 characters */
    static char big[9999992];
    bad = (mp_shareable_item_t){
        .type = MP_SHAREABLE_BYTES, .data = big, .len = sizeof big};
    ASSERT_ERR(mp_shareable_list_create(&l, NULL, &bad, 1, 0), MP_EINVAL);
    bad.len = sizeof big - 1; /* room 9999992: "9999992s" */
    ASSERT_OK(mp_shareable_list_create(&l, NULL, &bad, 1, 0));
    expect_format(l, 0, "9999992s");
    ASSERT_OK(mp_shm_unlink(mp_shareable_list_shm(l)));
    mp_shareable_list_destroy(l);
    ASSERT_NULL(mp_shareable_list_shm(NULL));
    ASSERT_ERR(mp_shareable_list_len(NULL), MP_EINVAL);
    ASSERT_ERR(mp_shareable_list_close(NULL), MP_EINVAL);
    mp_shareable_list_destroy(NULL);
    ASSERT_ERR(mp_shareable_list_attach(NULL, "x"), MP_EINVAL);
    char name[64];
    sl_test_name(name, sizeof name, "sl-none");
    ASSERT_ERR(mp_shareable_list_attach(&l, name), MP_ENOENT);

    /* an empty list (Python allows ShareableList([])) */
    ASSERT_OK(mp_shareable_list_create(&l, name, NULL, 0, 0));
    ASSERT_EQ(mp_shareable_list_len(l), 0);
    ASSERT_EQ(mp_shm_size(mp_shareable_list_shm(l)), 16);
    ASSERT_ERR(mp_shareable_list_set_none(l, 0), MP_ERANGE);
    ASSERT_ERR(mp_shareable_list_set_none(l, -1), MP_ERANGE);
    mp_shareable_list_t *a = NULL;
    ASSERT_OK(mp_shareable_list_attach(&a, name));
    ASSERT_EQ(mp_shareable_list_len(a), 0);
    mp_shareable_list_destroy(a);
    /* a closed list: every call but shm and destroy is MP_ECLOSED */
    ASSERT_OK(mp_shareable_list_close(l));
    ASSERT_OK(mp_shareable_list_close(l));
    ASSERT_ERR(mp_shareable_list_len(l), MP_ECLOSED);
    ASSERT_ERR(mp_shareable_list_set_none(l, 0), MP_ECLOSED);
    ASSERT_OK(mp_shm_unlink(mp_shareable_list_shm(l)));
    mp_shareable_list_destroy(l);
}

/* A block that holds no list (or a damaged one) is refused, never read
 * out of bounds. */
TEST(shareable_list_attach_refuses_bad_blocks)
{
    char name[64];
    sl_test_name(name, sizeof name, "sl-bad");
    mp_shm_t *shm;
    ASSERT_OK(mp_shm_create(&shm, name, 64, 0));
    int64_t *w = mp_shm_buf(shm);
    mp_shareable_list_t *l = NULL;
    w[0] = -1; /* negative length */
    ASSERT_ERR(mp_shareable_list_attach(&l, name), MP_EPROTO);
    w[0] = 1000; /* more items than the block holds */
    ASSERT_ERR(mp_shareable_list_attach(&l, name), MP_EPROTO);
    w[0] = 1; /* one item whose offsets leave the block */
    w[1] = 0;
    w[2] = 1 << 20;
    ASSERT_ERR(mp_shareable_list_attach(&l, name), MP_EPROTO);
    w[2] = 4; /* a room under 8 bytes */
    ASSERT_ERR(mp_shareable_list_attach(&l, name), MP_EPROTO);
    /* a valid header, then formats no Python writes */
    w[2] = 8; /* data at 24..32, format at 32..40, code at 40 */
    uint8_t *buf = mp_shm_buf(shm);
    memcpy(buf + 32, "99s\0\0\0\0\0", 8); /* longer than the room */
    buf[40] = 2;
    ASSERT_OK(mp_shareable_list_attach(&l, name));
    void *out;
    ASSERT_ERR(mp_shareable_list_get_bytes(l, 0, &out), MP_EPROTO);
    memcpy(buf + 32, "z\0\0\0\0\0\0\0", 8);
    buf[40] = 0;
    ASSERT_ERR(mp_shareable_list_type(l, 0), MP_EPROTO);
    memcpy(buf + 32, "q\0\0\0\0\0\0\0", 8);
    buf[40] = 7; /* no such code */
    ASSERT_ERR(mp_shareable_list_type(l, 0), MP_EPROTO);
    buf[40] = 0;
    ASSERT_EQ(mp_shareable_list_type(l, 0), MP_SHAREABLE_INT64);
    /* a str Python could not decode */
    memcpy(buf + 24, "\xff\0\0\0\0\0\0\0", 8);
    memcpy(buf + 32, "8s\0\0\0\0\0\0", 8);
    buf[40] = 1;
    char *s;
    ASSERT_ERR(mp_shareable_list_get_str(l, 0, &s), MP_EPROTO);
    mp_shareable_list_destroy(l);
    ASSERT_OK(mp_shm_unlink(shm));
    mp_shm_destroy(shm);
}

/* Writes through one process's handle are read through another's. */
static int
child_writes(void *arg)
{
    mp_shareable_list_t *l = NULL;
    if (mp_shareable_list_attach(&l, arg) != 0) {
        return 1;
    }
    write_writes(l);
    mp_shareable_list_destroy(l);
    return 0;
}

TEST(shareable_list_across_processes)
{
    char name[64];
    sl_test_name(name, sizeof name, "sl-proc");
    mp_shareable_list_t *l = NULL;
    ASSERT_OK(mp_shareable_list_create(&l, name, ITEMS, N_ITEMS, 0));
    ASSERT_EQ(mpt_join(mpt_fork(child_writes, name)), 0);
    expect_writes(l);
    ASSERT_OK(mp_shm_unlink(mp_shareable_list_shm(l)));
    mp_shareable_list_destroy(l);
}

/* --- interop with CPython ----------------------------------------------- */

/* Creates a C list of ITEMS, runs the Python peer in mode on it, and,
 * with writes, checks that the list then holds WRITES. */
static void
c_list_to_python(const char *suffix, const char *mode, bool writes)
{
    char name[64];
    sl_test_name(name, sizeof name, suffix);
    mp_shareable_list_t *l = NULL;
    ASSERT_OK(mp_shareable_list_create(&l, name, ITEMS, N_ITEMS, 0));
    ASSERT_EQ(run_python(mode, name), 0);
    if (writes) {
        expect_writes(l);
    }
    ASSERT_OK(mp_shm_unlink(mp_shareable_list_shm(l)));
    mp_shareable_list_destroy(l);
}

/* A C list has the bytes of Python's list of the same items. */
TEST_TIMEOUT(shareable_list_python_same_bytes, 60)
{
    c_list_to_python("sl-bytes", "compare", false);
}

/* C creates, Python reads it and writes, C reads Python's writes. */
TEST_TIMEOUT(shareable_list_python_reads_c, 60)
{
    c_list_to_python("sl-c2py", "check", true);
}

/* Python creates, C reads it and writes, Python reads C's writes. */
TEST_TIMEOUT(shareable_list_c_reads_python, 60)
{
    char name[64];
    sl_test_name(name, sizeof name, "sl-py2c");
    ASSERT_EQ(run_python("create", name), 0);
    mp_shareable_list_t *l = NULL;
    ASSERT_OK(mp_shareable_list_attach(&l, name));
    expect_items(l);
    expect_format(l, 8, "16s");
    write_writes(l);
    ASSERT_ERR(mp_shareable_list_set_str(l, 10, "123456789", 9), MP_EOVERFLOW);
    ASSERT_EQ(run_python("verify", name), 0);
    ASSERT_OK(mp_shm_unlink(mp_shareable_list_shm(l)));
    mp_shareable_list_destroy(l);
}
