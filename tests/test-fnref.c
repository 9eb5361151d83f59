/* SPDX-License-Identifier: MIT */
/* test-fnref.c - function references that survive an exec (fnref.h): a
 * static function of this program and a function of a shared object resolve
 * to the same code in this process and in a fresh exec of this binary; a
 * reference with another build-id, an offset outside the code, or bytes
 * that are not a reference are refused; registered names; bad input. */
#include "runner.h"

#include "platform/platform.h"
#include "shm/fnref.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A static function: no symbol a loader could look up. */
static int
triple(int x)
{
    return 3 * x;
}

static int
other(int x)
{
    return x - 1;
}

typedef int (*int_fn)(int);

/* ref_of encodes fn, failing the test on error; *len gets the length. */
static void *
ref_of(mp__fn_t fn, size_t *len)
{
    void *ref = NULL;
    ssize_t n = mp__fnref_encode(fn, &ref);
    ASSERT_GT(n, 0);
    *len = (size_t)n;
    return ref;
}

/* hex renders len bytes at p as hex into a fresh string. */
static char *
hex(const void *p, size_t len)
{
    char *s = malloc(2 * len + 1);
    ASSERT(s != NULL);
    for (size_t i = 0; i < len; i++) {
        snprintf(s + 2 * i, 3, "%02x", ((const unsigned char *)p)[i]);
    }
    return s;
}

/* unhex decodes the hex string s into a fresh buffer of *len bytes. */
static void *
unhex(const char *s, size_t *len)
{
    size_t n = strlen(s) / 2;
    unsigned char *p = malloc(n > 0 ? n : 1);
    ASSERT(p != NULL);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        ASSERT_EQ(sscanf(s + 2 * i, "%2x", &v), 1);
        p[i] = (unsigned char)v;
    }
    *len = n;
    return p;
}

TEST(fnref_static_function_round_trip)
{
    size_t len;
    void *ref = ref_of((mp__fn_t)triple, &len);
    mp__fn_t fn = NULL;
    ASSERT_OK(mp__fnref_decode(ref, len, &fn));
    ASSERT(fn == (mp__fn_t)triple);
    ASSERT_EQ(((int_fn)fn)(14), 42);
    mp__free(ref);
}

TEST(fnref_shared_object_function_round_trip)
{
    /* abs lives in libc.so, not in this program. */
    mp__plat_code_object_t obj;
    ASSERT_OK(mp__plat_code_find((const void *)(uintptr_t)abs, &obj));
    ASSERT(strlen(obj.path) > 0); /* a shared object, not the program */
    size_t len;
    void *ref = ref_of((mp__fn_t)abs, &len);
    mp__fn_t fn = NULL;
    ASSERT_OK(mp__fnref_decode(ref, len, &fn));
    ASSERT(fn == (mp__fn_t)abs);
    mp__free(ref);
}

/* Run in a fresh exec of this binary: resolves the references in the
 * environment (hex) and calls them; exits 0 when both answer right. */
/* Runs helper in a fork and exec of this binary with the environment
 * variable k1 set to v1 (and k2 to v2 unless NULL), and checks that it
 * exits with 0. */
static void
run_in_exec(const char *helper, const char *k1, const char *v1, const char *k2,
            const char *v2)
{
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        setenv(k1, v1, 1);
        if (k2 != NULL) {
            setenv(k2, v2, 1);
        }
        mpt_exec_helper(helper);
    }
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
}

TEST_HELPER(fnref_exec_child)
{
    size_t len;
    void *ref = unhex(getenv("FNREF_STATIC"), &len);
    mp__fn_t fn = NULL;
    ASSERT_OK(mp__fnref_decode(ref, len, &fn));
    ASSERT(fn == (mp__fn_t)triple); /* this exec's address, maybe moved */
    ASSERT_EQ(((int_fn)fn)(5), 15);
    free(ref);
    ref = unhex(getenv("FNREF_LIBC"), &len);
    ASSERT_OK(mp__fnref_decode(ref, len, &fn));
    ASSERT_EQ(((int_fn)fn)(-7), 7);
    free(ref);
}

TEST(fnref_resolves_after_exec)
{
    size_t slen, llen;
    void *sref = ref_of((mp__fn_t)triple, &slen);
    void *lref = ref_of((mp__fn_t)abs, &llen);
    char *shex = hex(sref, slen), *lhex = hex(lref, llen);
    run_in_exec("fnref_exec_child", "FNREF_STATIC", shex, "FNREF_LIBC", lhex);
    free(shex);
    free(lhex);
    mp__free(sref);
    mp__free(lref);
}

TEST_HELPER(fnref_loaded_only_child)
{
    size_t len;
    void *ref = unhex(getenv("FNREF_LIBZ"), &len);
    mp__fn_t fn = NULL;
    /* libz is not loaded in this exec: the pool worker's lookup refuses
     * it (loading would allocate), the full one loads it. */
    ASSERT_ERR(mp__fnref_decode_loaded(ref, len, &fn), MP_ENOENT);
    ASSERT(fn == NULL);
    ASSERT_OK(mp__fnref_decode(ref, len, &fn));
    ASSERT_EQ(((const char *(*)(void))fn)()[0], '1');  /* zlibVersion */
    ASSERT_OK(mp__fnref_decode_loaded(ref, len, &fn)); /* loaded now */
    free(ref);
}

TEST(fnref_decode_loaded_never_loads)
{
    void *z = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    if (z == NULL) {
        mpt_skip("libz.so.1 is not installed");
    }
    void *version = dlsym(z, "zlibVersion");
    ASSERT(version != NULL);
    size_t len;
    void *ref = ref_of((mp__fn_t)(uintptr_t)version, &len);
    char *h = hex(ref, len);
    run_in_exec("fnref_loaded_only_child", "FNREF_LIBZ", h, NULL, NULL);
    free(h);
    mp__free(ref);
    dlclose(z);
}

/* The byte offset of the build-id in an object reference. */
#define ID_AT 7

TEST(fnref_refuses_another_build_id)
{
    size_t len;
    uint8_t *ref = ref_of((mp__fn_t)triple, &len);
    ASSERT_EQ(ref[5], 1); /* by object */
    ref[ID_AT] ^= 0xff;   /* another program's id */
    mp__fn_t fn = NULL;
    ASSERT_ERR(mp__fnref_decode(ref, len, &fn), MP_ENOENT);
    ASSERT(fn == NULL);
    mp__free(ref);
}

TEST(fnref_refuses_an_offset_outside_the_code)
{
    size_t len;
    uint8_t *ref = ref_of((mp__fn_t)triple, &len);
    /* The offset is the last 8 bytes: point it far past the program. */
    memset(ref + len - 8, 0x7f, 8);
    mp__fn_t fn = NULL;
    ASSERT_ERR(mp__fnref_decode(ref, len, &fn), MP_EPROTO);
    /* Offset 0 is the ELF header: mapped, but not code. */
    memset(ref + len - 8, 0, 8);
    ASSERT_ERR(mp__fnref_decode(ref, len, &fn), MP_EPROTO);
    ASSERT(fn == NULL);
    mp__free(ref);
}

TEST(fnref_refuses_malformed_bytes)
{
    size_t len;
    uint8_t *ref = ref_of((mp__fn_t)triple, &len);
    mp__fn_t fn = NULL;
    /* Every truncation, and one byte too many. */
    for (size_t n = 0; n < len; n++) {
        ASSERT_ERR(mp__fnref_decode(ref, n, &fn), MP_EPROTO);
    }
    uint8_t *longer = malloc(len + 1);
    ASSERT(longer != NULL);
    memcpy(longer, ref, len);
    longer[len] = 0;
    ASSERT_ERR(mp__fnref_decode(longer, len + 1, &fn), MP_EPROTO);
    free(longer);
    /* Wrong magic, version, kind; a zero-length or oversized id. */
    const size_t fields[] = {0, 4, 5, 6};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        ref[fields[i]] ^= 0x40;
        ASSERT_ERR(mp__fnref_decode(ref, len, &fn), MP_EPROTO);
        ref[fields[i]] ^= 0x40;
    }
    uint8_t id_len = ref[6];
    ref[6] = 0;
    ASSERT_ERR(mp__fnref_decode(ref, len, &fn), MP_EPROTO);
    ref[6] = MP__FNREF_ID_MAX + 1;
    ASSERT_ERR(mp__fnref_decode(ref, len, &fn), MP_EPROTO);
    ref[6] = id_len;
    ASSERT_OK(mp__fnref_decode(ref, len, &fn)); /* restored: fine again */
    ASSERT(fn == (mp__fn_t)triple);
    mp__free(ref);
}

TEST(fnref_registered_names)
{
    ASSERT_OK(mp__fnref_register("test.other", (mp__fn_t)other));
    ASSERT_OK(mp__fnref_register("test.other", (mp__fn_t)other)); /* again */
    ASSERT_ERR(mp__fnref_register("test.other", (mp__fn_t)triple), MP_EEXIST);
    size_t len;
    uint8_t *ref = ref_of((mp__fn_t)other, &len);
    ASSERT_EQ(ref[5], 2); /* by name */
    ASSERT_EQ(len, 6 + 2 + strlen("test.other"));
    mp__fn_t fn = NULL;
    ASSERT_OK(mp__fnref_decode(ref, len, &fn));
    ASSERT_EQ(((int_fn)fn)(10), 9);
    /* A name this process never registered. */
    ref[len - 1] = 'X';
    ASSERT_ERR(mp__fnref_decode(ref, len, &fn), MP_ENOENT);
    mp__free(ref);

    char longest[MP__FNREF_NAME_MAX + 2];
    memset(longest, 'n', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    ASSERT_ERR(mp__fnref_register(longest, (mp__fn_t)other), MP_EINVAL);
    longest[MP__FNREF_NAME_MAX] = '\0';
    ASSERT_OK(mp__fnref_register(longest, (mp__fn_t)triple));
    ASSERT_ERR(mp__fnref_register("", (mp__fn_t)other), MP_EINVAL);
    ASSERT_ERR(mp__fnref_register(NULL, (mp__fn_t)other), MP_EINVAL);
    ASSERT_ERR(mp__fnref_register("x", NULL), MP_EINVAL);
}

TEST(fnref_bad_input)
{
    void *ref = NULL;
    mp__fn_t fn = NULL;
    ASSERT_ERR(mp__fnref_encode(NULL, &ref), MP_EINVAL);
    ASSERT_ERR(mp__fnref_encode((mp__fn_t)triple, NULL), MP_EINVAL);
    ASSERT_ERR(mp__fnref_decode(NULL, 10, &fn), MP_EINVAL);
    ASSERT_ERR(mp__fnref_decode("MPFN\x01\x01", 6, NULL), MP_EINVAL);
    /* Not code at all: a data address. */
    static int data;
    ASSERT_ERR(mp__fnref_encode((mp__fn_t)(uintptr_t)&data, &ref), MP_ENOENT);
    ASSERT(ref == NULL);
}
