/* SPDX-License-Identifier: MIT */
/* test-mgr-store.c - the manager's shared store driven directly through
 * mp__mgr_exec: every kind's ops and errors, hostile requests, forked
 * children hammering one object, children SIGKILLed mid-op, and the
 * server's liveness word. */
#include "runner.h"

#include "manager/store_internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STORE_SIZE ((size_t)32 << 20)

/* An object id. */
typedef struct oid {
    uint32_t index, gen;
} oid_t;

/* Runs one request; the reply's data is freed unless out takes it. */
static int
ex(mp__store_t *st, mp__mgr_session_t *s, uint16_t op, oid_t id,
   int64_t timeout, int64_t n0, int64_t n1, const void *a0, size_t l0,
   const void *a1, size_t l1, mp__mgr_rep_t *out)
{
    mp__mgr_req_t req = {.op = op,
                         .index = id.index,
                         .gen = id.gen,
                         .timeout = timeout,
                         .num = {n0, n1, 0},
                         .arg = {{a0, l0}, {a1, l1}}};
    mp__mgr_rep_t rep;
    int r = mp__mgr_exec(st, s, &req, &rep);
    if (out != NULL) {
        *out = rep;
    } else {
        mp__mgr_rep_clear(&rep);
    }
    return r;
}

/* Simple forms: no args; one byte-string arg; the reply's num. */
#define OP(st, op, id)                                                         \
    ex(st, NULL, op, id, MP_WAIT_FOREVER, 0, 0, NULL, 0, NULL, 0, NULL)
#define OPN(st, op, id, n)                                                     \
    ex(st, NULL, op, id, MP_WAIT_FOREVER, n, 0, NULL, 0, NULL, 0, NULL)
#define OPS(st, op, id, str)                                                   \
    ex(st, NULL, op, id, MP_WAIT_FOREVER, 0, 0, str, strlen(str), NULL, 0, NULL)

static int64_t
num_of(mp__store_t *st, uint16_t op, oid_t id)
{
    mp__mgr_rep_t rep;
    int r = ex(st, NULL, op, id, MP_WAIT_FOREVER, 0, 0, NULL, 0, NULL, 0, &rep);
    mp__mgr_rep_clear(&rep);
    return r != 0 ? r : rep.num;
}

static oid_t
create(mp__store_t *st, int kind, int64_t n1, int64_t n2, const void *init,
       size_t len)
{
    mp__mgr_req_t req = {.op = MP__OP_CREATE,
                         .num = {kind, n1, n2},
                         .arg = {{init, len}, {NULL, 0}}};
    mp__mgr_rep_t rep;
    ASSERT_OK(mp__mgr_exec(st, NULL, &req, &rep));
    return (oid_t){(uint32_t)rep.num, rep.gen};
}

static int
create_err(mp__store_t *st, int kind, int64_t n1, int64_t n2, const void *init,
           size_t len)
{
    mp__mgr_req_t req = {.op = MP__OP_CREATE,
                         .num = {kind, n1, n2},
                         .arg = {{init, len}, {NULL, 0}}};
    mp__mgr_rep_t rep;
    return mp__mgr_exec(st, NULL, &req, &rep);
}

static int
dset(mp__store_t *st, oid_t d, const char *k, const char *v)
{
    return ex(st, NULL, MP__OP_DICT_SET, d, 0, 0, 0, k, strlen(k), v, strlen(v),
              NULL);
}

/* Gets key k into buf (NUL-terminated); returns the status. */
static int
dget(mp__store_t *st, oid_t d, const char *k, char *buf, size_t cap)
{
    mp__mgr_rep_t rep;
    int r =
        ex(st, NULL, MP__OP_DICT_GET, d, 0, 0, 0, k, strlen(k), NULL, 0, &rep);
    if (r == 0) {
        ASSERT_LT(rep.len, cap);
        memcpy(buf, rep.data, rep.len);
        buf[rep.len] = '\0';
        ASSERT_EQ(rep.num, (int64_t)rep.len);
    }
    mp__mgr_rep_clear(&rep);
    return r;
}

/* Element at list index i as a string. */
static int
lget(mp__store_t *st, oid_t l, int64_t i, char *buf, size_t cap)
{
    mp__mgr_rep_t rep;
    int r = ex(st, NULL, MP__OP_LIST_GET, l, 0, i, 0, NULL, 0, NULL, 0, &rep);
    if (r == 0) {
        ASSERT_LT(rep.len, cap);
        memcpy(buf, rep.data, rep.len);
        buf[rep.len] = '\0';
    }
    mp__mgr_rep_clear(&rep);
    return r;
}

/* The list joined into one string (elements are single characters). */
static void
list_str(mp__store_t *st, oid_t l, char *buf, size_t cap)
{
    mp__mgr_rep_t rep;
    ASSERT_OK(ex(st, NULL, MP__OP_LIST_SLICE, l, 0, 0, INT64_MAX, NULL, 0, NULL,
                 0, &rep));
    mp_buf_t *bufs;
    ASSERT_OK(mp__mgr_unpack(rep.data, rep.len, (size_t)rep.num, &bufs));
    size_t k = 0;
    for (int64_t i = 0; i < rep.num; i++) {
        ASSERT_LT(k + bufs[i].len, cap);
        memcpy(buf + k, bufs[i].data, bufs[i].len);
        k += bufs[i].len;
    }
    buf[k] = '\0';
    mp_free(bufs);
    mp__mgr_rep_clear(&rep);
}

static mp__store_t *
store_new(void)
{
    mp__store_t *st = NULL;
    ASSERT_OK(mp__store_create(&st, STORE_SIZE));
    return st;
}

TEST(mgr_store_create_attach)
{
    mp__store_t *st = store_new(), *st2 = NULL;
    ASSERT_ERR(mp__store_create(NULL, 0), MP_EINVAL);
    ASSERT_ERR(mp__store_create(&st2, 1000), MP_EINVAL);
    ASSERT_OK(mp__store_attach(&st2, mp__store_name(st)));
    ASSERT_OK(mp__store_alive(st2));
    oid_t d = create(st, MP_PROXY_DICT, 0, 0, NULL, 0);
    ASSERT_OK(dset(st, d, "k", "v"));
    char buf[16];
    ASSERT_OK(dget(st2, d, "k", buf, sizeof buf)); /* another mapping */
    ASSERT_STR_EQ(buf, "v");
    ASSERT_EQ(mp__store_kind(st2, d.index, d.gen), MP_PROXY_DICT);
    mp__store_detach(st2);
    ASSERT_ERR(mp__store_attach(&st2, "mp-no-such-store"), MP_ENOENT);
    ASSERT_ERR(mp__store_attach(NULL, "x"), MP_EINVAL);
    /* A segment that is no store. */
    mp_shm_t *shm;
    ASSERT_OK(mp_shm_create(&shm, NULL, 1 << 20, 0));
    ASSERT_ERR(mp__store_attach(&st2, mp_shm_name(shm)), MP_EPROTO);
    mp_shm_unlink(shm);
    mp_shm_destroy(shm);
    mp__store_destroy(st);
}

TEST(mgr_store_dict_ops)
{
    mp__store_t *st = store_new();
    oid_t d = create(st, MP_PROXY_DICT, 0, 0, NULL, 0);
    char buf[64];
    ASSERT_ERR(dget(st, d, "a", buf, sizeof buf), MP_ENOENT);
    ASSERT_OK(dset(st, d, "a", "1"));
    ASSERT_OK(dset(st, d, "b", ""));
    ASSERT_OK(dset(st, d, "a", "one")); /* overwrite */
    ASSERT_OK(dget(st, d, "a", buf, sizeof buf));
    ASSERT_STR_EQ(buf, "one");
    ASSERT_OK(dget(st, d, "b", buf, sizeof buf));
    ASSERT_STR_EQ(buf, "");
    ASSERT_EQ(num_of(st, MP__OP_DICT_LEN, d), 2);
    mp__mgr_rep_t rep;
    ASSERT_OK(
        ex(st, NULL, MP__OP_DICT_CONTAINS, d, 0, 0, 0, "a", 1, NULL, 0, &rep));
    ASSERT_EQ(rep.num, 1);
    ASSERT_OK(
        ex(st, NULL, MP__OP_DICT_CONTAINS, d, 0, 0, 0, "z", 1, NULL, 0, &rep));
    ASSERT_EQ(rep.num, 0);
    /* Keys and items. */
    ASSERT_OK(
        ex(st, NULL, MP__OP_DICT_ITEMS, d, 0, 0, 0, NULL, 0, NULL, 0, &rep));
    ASSERT_EQ(rep.num, 4);
    mp_buf_t *bufs;
    ASSERT_OK(mp__mgr_unpack(rep.data, rep.len, 4, &bufs));
    int seen = 0;
    for (int i = 0; i < 4; i += 2) {
        if (bufs[i].len == 1 && memcmp(bufs[i].data, "a", 1) == 0) {
            ASSERT_EQ(bufs[i + 1].len, 3u);
            seen |= 1;
        } else {
            ASSERT_EQ(bufs[i + 1].len, 0u);
            seen |= 2;
        }
    }
    ASSERT_EQ(seen, 3);
    mp_free(bufs);
    mp__mgr_rep_clear(&rep);
    /* Pop and delete. */
    ASSERT_OK(ex(st, NULL, MP__OP_DICT_POP, d, 0, 0, 0, "a", 1, NULL, 0, &rep));
    ASSERT_EQ(rep.len, 3u);
    ASSERT_MEM_EQ(rep.data, "one", 3);
    mp__mgr_rep_clear(&rep);
    ASSERT_ERR(OPS(st, MP__OP_DICT_POP, d, "a"), MP_ENOENT);
    ASSERT_OK(OPS(st, MP__OP_DICT_DELETE, d, "b"));
    ASSERT_ERR(OPS(st, MP__OP_DICT_DELETE, d, "b"), MP_ENOENT);
    ASSERT_EQ(num_of(st, MP__OP_DICT_LEN, d), 0);
    /* Many keys: growth, deletes, reuse of tombstones. */
    for (int i = 0; i < 2000; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d", i * 7);
        ASSERT_OK(dset(st, d, k, v));
    }
    for (int i = 0; i < 2000; i += 2) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        ASSERT_OK(OPS(st, MP__OP_DICT_DELETE, d, k));
    }
    ASSERT_EQ(num_of(st, MP__OP_DICT_LEN, d), 1000);
    for (int i = 0; i < 2000; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d", i * 7);
        if (i % 2) {
            ASSERT_OK(dget(st, d, k, buf, sizeof buf));
            ASSERT_STR_EQ(buf, v);
        } else {
            ASSERT_ERR(dget(st, d, k, buf, sizeof buf), MP_ENOENT);
        }
    }
    ASSERT_OK(
        ex(st, NULL, MP__OP_DICT_KEYS, d, 0, 0, 0, NULL, 0, NULL, 0, &rep));
    ASSERT_EQ(rep.num, 1000);
    mp__mgr_rep_clear(&rep);
    ASSERT_OK(OP(st, MP__OP_DICT_CLEAR, d));
    ASSERT_EQ(num_of(st, MP__OP_DICT_LEN, d), 0);
    /* Bad arguments. */
    ASSERT_ERR(dset(st, d, "", "x"), MP_EINVAL);
    ASSERT_ERR(ex(st, NULL, MP__OP_DICT_SET, d, 0, 0, 0, NULL, 5, "x", 1, NULL),
               MP_EINVAL);
    ASSERT_ERR(ex(st, NULL, MP__OP_DICT_SET, d, 0, 0, 0, "k", 1, NULL, 9, NULL),
               MP_EINVAL);
    /* Namespace: the same state. */
    oid_t ns = create(st, MP_PROXY_NAMESPACE, 0, 0, NULL, 0);
    ASSERT_OK(dset(st, ns, "attr", "val"));
    ASSERT_OK(dget(st, ns, "attr", buf, sizeof buf));
    ASSERT_STR_EQ(buf, "val");
    mp__store_destroy(st);
}

TEST(mgr_store_list_ops)
{
    mp__store_t *st = store_new();
    oid_t l = create(st, MP_PROXY_LIST, 0, 0, NULL, 0);
    char buf[64];
    ASSERT_EQ(num_of(st, MP__OP_LIST_LEN, l), 0);
    ASSERT_ERR(lget(st, l, 0, buf, sizeof buf), MP_ERANGE);
    ASSERT_ERR(OPN(st, MP__OP_LIST_POP, l, -1), MP_ERANGE);
    ASSERT_OK(OPS(st, MP__OP_LIST_APPEND, l, "a"));
    ASSERT_OK(OPS(st, MP__OP_LIST_APPEND, l, "b"));
    mp_buf_t ext[3] = {{"c", 1}, {"d", 1}, {"e", 1}};
    uint8_t packed[64];
    size_t plen = 0;
    ASSERT_OK(mp__mgr_pack_size(ext, 3, &plen));
    mp__mgr_pack(ext, 3, packed);
    ASSERT_OK(ex(st, NULL, MP__OP_LIST_EXTEND, l, 0, 3, 0, packed, plen, NULL,
                 0, NULL));
    list_str(st, l, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "abcde");
    ASSERT_OK(lget(st, l, -1, buf, sizeof buf));
    ASSERT_STR_EQ(buf, "e");
    ASSERT_OK(lget(st, l, -5, buf, sizeof buf));
    ASSERT_STR_EQ(buf, "a");
    ASSERT_ERR(lget(st, l, -6, buf, sizeof buf), MP_ERANGE);
    ASSERT_ERR(lget(st, l, 5, buf, sizeof buf), MP_ERANGE);
    ASSERT_OK(
        ex(st, NULL, MP__OP_LIST_SET, l, 0, -2, 0, "D", 1, NULL, 0, NULL));
    ASSERT_ERR(ex(st, NULL, MP__OP_LIST_SET, l, 0, 9, 0, "D", 1, NULL, 0, NULL),
               MP_ERANGE);
    /* insert clamps like list.insert. */
    ASSERT_OK(
        ex(st, NULL, MP__OP_LIST_INSERT, l, 0, -100, 0, "<", 1, NULL, 0, NULL));
    ASSERT_OK(
        ex(st, NULL, MP__OP_LIST_INSERT, l, 0, 100, 0, ">", 1, NULL, 0, NULL));
    ASSERT_OK(
        ex(st, NULL, MP__OP_LIST_INSERT, l, 0, -1, 0, "x", 1, NULL, 0, NULL));
    list_str(st, l, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "<abcDex>");
    ASSERT_OK(OPN(st, MP__OP_LIST_DELETE, l, 0));
    ASSERT_OK(OPN(st, MP__OP_LIST_DELETE, l, -1));
    ASSERT_ERR(OPN(st, MP__OP_LIST_DELETE, l, 6), MP_ERANGE);
    mp__mgr_rep_t rep;
    ASSERT_OK(
        ex(st, NULL, MP__OP_LIST_POP, l, 0, 1, 0, NULL, 0, NULL, 0, &rep));
    ASSERT_EQ(rep.len, 1u);
    ASSERT_MEM_EQ(rep.data, "b", 1);
    mp__mgr_rep_clear(&rep);
    list_str(st, l, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "acDex");
    ASSERT_OK(
        ex(st, NULL, MP__OP_LIST_INDEX, l, 0, 0, 0, "D", 1, NULL, 0, &rep));
    ASSERT_EQ(rep.num, 2);
    ASSERT_ERR(OPS(st, MP__OP_LIST_INDEX, l, "zz"), MP_ENOENT);
    /* Slices clamp like lst[start:stop]. */
    ASSERT_OK(
        ex(st, NULL, MP__OP_LIST_SLICE, l, 0, -3, 100, NULL, 0, NULL, 0, &rep));
    ASSERT_EQ(rep.num, 3);
    mp__mgr_rep_clear(&rep);
    ASSERT_OK(
        ex(st, NULL, MP__OP_LIST_SLICE, l, 0, 4, 1, NULL, 0, NULL, 0, &rep));
    ASSERT_EQ(rep.num, 0);
    mp__mgr_rep_clear(&rep);
    ASSERT_OK(OP(st, MP__OP_LIST_REVERSE, l));
    list_str(st, l, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "xeDca");
    /* Extend with a malformed packed list or a lying count. */
    ASSERT_ERR(ex(st, NULL, MP__OP_LIST_EXTEND, l, 0, 4, 0, packed, plen, NULL,
                  0, NULL),
               MP_EINVAL);
    ASSERT_ERR(ex(st, NULL, MP__OP_LIST_EXTEND, l, 0, INT64_MAX, 0, packed,
                  plen, NULL, 0, NULL),
               MP_EINVAL);
    ASSERT_ERR(ex(st, NULL, MP__OP_LIST_EXTEND, l, 0, -1, 0, packed, plen, NULL,
                  0, NULL),
               MP_EINVAL);
    ASSERT_ERR(ex(st, NULL, MP__OP_LIST_EXTEND, l, 0, 3, 0, packed, plen - 1,
                  NULL, 0, NULL),
               MP_EINVAL);
    ASSERT_EQ(num_of(st, MP__OP_LIST_LEN, l), 5);
    for (int i = 0; i < 1000; i++) {
        ASSERT_OK(OPS(st, MP__OP_LIST_APPEND, l, "y"));
    }
    ASSERT_EQ(num_of(st, MP__OP_LIST_LEN, l), 1005);
    ASSERT_OK(OP(st, MP__OP_LIST_CLEAR, l));
    ASSERT_EQ(num_of(st, MP__OP_LIST_LEN, l), 0);
    mp__store_destroy(st);
}

TEST(mgr_store_values)
{
    mp__store_t *st = store_new();
    int init = 41;
    oid_t v = create(st, MP_PROXY_VALUE, MP_TYPE_INT, 0, &init, sizeof init);
    mp__mgr_rep_t rep;
    ASSERT_OK(
        ex(st, NULL, MP__OP_VALUE_GET, v, 0, 0, 0, NULL, 0, NULL, 0, &rep));
    ASSERT_EQ(rep.len, sizeof(int));
    ASSERT_EQ(*(int *)rep.data, 41);
    mp__mgr_rep_clear(&rep);
    int x = 7;
    ASSERT_OK(ex(st, NULL, MP__OP_VALUE_SET, v, 0, 0, 0, &x, sizeof x, NULL, 0,
                 NULL));
    ASSERT_ERR(ex(st, NULL, MP__OP_VALUE_SET, v, 0, 0, 0, &x, 2, NULL, 0, NULL),
               MP_EINVAL);
    ASSERT_ERR(OP(st, MP__OP_ARRAY_LEN, v), MP_EKIND);
    double d[3] = {1.5, 2.5, 3.5};
    oid_t a = create(st, MP_PROXY_ARRAY, MP_TYPE_DOUBLE, 3, d, sizeof d);
    ASSERT_EQ(num_of(st, MP__OP_ARRAY_LEN, a), 3);
    ASSERT_OK(
        ex(st, NULL, MP__OP_ARRAY_GET, a, 0, 2, 0, NULL, 0, NULL, 0, &rep));
    ASSERT(*(double *)rep.data == 3.5);
    mp__mgr_rep_clear(&rep);
    double y = 9.0;
    ASSERT_OK(ex(st, NULL, MP__OP_ARRAY_SET, a, 0, 0, 0, &y, sizeof y, NULL, 0,
                 NULL));
    ASSERT_ERR(
        ex(st, NULL, MP__OP_ARRAY_SET, a, 0, 3, 0, &y, sizeof y, NULL, 0, NULL),
        MP_ERANGE);
    ASSERT_ERR(
        ex(st, NULL, MP__OP_ARRAY_GET, a, 0, -1, 0, NULL, 0, NULL, 0, NULL),
        MP_ERANGE);
    ASSERT_ERR(OP(st, MP__OP_VALUE_GET, a), MP_EKIND);
    /* Zeroes without init; bad types, lengths, init sizes. */
    oid_t z = create(st, MP_PROXY_ARRAY, MP_TYPE_CHAR, 4, NULL, 0);
    ASSERT_OK(
        ex(st, NULL, MP__OP_ARRAY_GET, z, 0, 3, 0, NULL, 0, NULL, 0, &rep));
    ASSERT_EQ(*(char *)rep.data, 0);
    mp__mgr_rep_clear(&rep);
    ASSERT_ERR(create_err(st, MP_PROXY_VALUE, 'z', 0, NULL, 0), MP_EINVAL);
    ASSERT_ERR(create_err(st, MP_PROXY_VALUE, -5, 0, NULL, 0), MP_EINVAL);
    ASSERT_ERR(create_err(st, MP_PROXY_ARRAY, MP_TYPE_INT, 0, NULL, 0),
               MP_EINVAL);
    ASSERT_ERR(create_err(st, MP_PROXY_ARRAY, MP_TYPE_INT, INT64_MAX, NULL, 0),
               MP_EINVAL);
    ASSERT_ERR(create_err(st, MP_PROXY_VALUE, MP_TYPE_INT, 0, &init, 3),
               MP_EINVAL);
    mp__store_destroy(st);
}

TEST(mgr_store_locks_and_semaphores)
{
    mp__store_t *st = store_new();
    oid_t lk = create(st, MP_PROXY_LOCK, 0, 0, NULL, 0);
    ASSERT_ERR(OP(st, MP__OP_RELEASE, lk), MP_EOVERRELEASE);
    ASSERT_OK(OP(st, MP__OP_ACQUIRE, lk));
    ASSERT_ERR(ex(st, NULL, MP__OP_ACQUIRE, lk, MP_NO_WAIT, 0, 0, NULL, 0, NULL,
                  0, NULL),
               MP_ETIMEDOUT);
    ASSERT_ERR(
        ex(st, NULL, MP__OP_ACQUIRE, lk, 30, 0, 0, NULL, 0, NULL, 0, NULL),
        MP_ETIMEDOUT);
    ASSERT_ERR(
        ex(st, NULL, MP__OP_ACQUIRE, lk, -7, 0, 0, NULL, 0, NULL, 0, NULL),
        MP_EINVAL);
    ASSERT_OK(OP(st, MP__OP_RELEASE, lk));

    oid_t rl = create(st, MP_PROXY_RLOCK, 0, 0, NULL, 0);
    ASSERT_ERR(OP(st, MP__OP_RELEASE, rl), MP_ENOTOWNER);
    ASSERT_OK(OP(st, MP__OP_ACQUIRE, rl));
    ASSERT_OK(OP(st, MP__OP_ACQUIRE, rl));
    ASSERT_OK(OP(st, MP__OP_RELEASE, rl));
    ASSERT_OK(OP(st, MP__OP_RELEASE, rl));
    ASSERT_ERR(OP(st, MP__OP_RELEASE, rl), MP_ENOTOWNER);

    oid_t sem = create(st, MP_PROXY_SEMAPHORE, 2, 0, NULL, 0);
    ASSERT_OK(OP(st, MP__OP_ACQUIRE, sem));
    ASSERT_OK(OP(st, MP__OP_ACQUIRE, sem));
    ASSERT_ERR(ex(st, NULL, MP__OP_ACQUIRE, sem, MP_NO_WAIT, 0, 0, NULL, 0,
                  NULL, 0, NULL),
               MP_ETIMEDOUT);
    ASSERT_OK(OP(st, MP__OP_RELEASE, sem));
    ASSERT_OK(OP(st, MP__OP_RELEASE, sem));
    ASSERT_OK(OP(st, MP__OP_RELEASE, sem)); /* unbounded: may go above */
    oid_t bs = create(st, MP_PROXY_BOUNDED_SEMAPHORE, 1, 0, NULL, 0);
    ASSERT_ERR(OP(st, MP__OP_RELEASE, bs), MP_EOVERRELEASE);
    ASSERT_OK(OP(st, MP__OP_ACQUIRE, bs));
    ASSERT_OK(OP(st, MP__OP_RELEASE, bs));
    ASSERT_ERR(create_err(st, MP_PROXY_SEMAPHORE, -1, 0, NULL, 0), MP_EINVAL);
    ASSERT_ERR(create_err(st, MP_PROXY_SEMAPHORE, (int64_t)1 << 40, 0, NULL, 0),
               MP_EINVAL);

    /* Sessions give back what they hold. */
    mp__mgr_session_t *s = mp__mgr_session_new();
    ASSERT_NOT_NULL(s);
    ASSERT_OK(ex(st, s, MP__OP_ACQUIRE, lk, -1, 0, 0, NULL, 0, NULL, 0, NULL));
    ASSERT_OK(ex(st, s, MP__OP_ACQUIRE, rl, -1, 0, 0, NULL, 0, NULL, 0, NULL));
    ASSERT_OK(ex(st, s, MP__OP_ACQUIRE, rl, -1, 0, 0, NULL, 0, NULL, 0, NULL));
    ASSERT_OK(ex(st, s, MP__OP_ACQUIRE, bs, -1, 0, 0, NULL, 0, NULL, 0, NULL));
    ASSERT_OK(ex(st, s, MP__OP_ACQUIRE, sem, -1, 0, 0, NULL, 0, NULL, 0, NULL));
    ASSERT_OK(ex(st, s, MP__OP_RELEASE, sem, -1, 0, 0, NULL, 0, NULL, 0, NULL));
    mp__mgr_session_end(st, s);
    ASSERT_OK(ex(st, NULL, MP__OP_ACQUIRE, lk, MP_NO_WAIT, 0, 0, NULL, 0, NULL,
                 0, NULL));
    ASSERT_OK(OP(st, MP__OP_RELEASE, rl) == MP_ENOTOWNER ? 0 : -1);
    ASSERT_OK(ex(st, NULL, MP__OP_ACQUIRE, bs, MP_NO_WAIT, 0, 0, NULL, 0, NULL,
                 0, NULL));
    mp__mgr_session_end(st, NULL);
    mp__store_destroy(st);
}

TEST(mgr_store_events_conditions_barriers)
{
    mp__store_t *st = store_new();
    oid_t ev = create(st, MP_PROXY_EVENT, 0, 0, NULL, 0);
    ASSERT_EQ(num_of(st, MP__OP_EV_IS_SET, ev), 0);
    ASSERT_ERR(ex(st, NULL, MP__OP_WAIT, ev, 20, 0, 0, NULL, 0, NULL, 0, NULL),
               MP_ETIMEDOUT);
    ASSERT_OK(OP(st, MP__OP_EV_SET, ev));
    ASSERT_EQ(num_of(st, MP__OP_EV_IS_SET, ev), 1);
    ASSERT_OK(OP(st, MP__OP_WAIT, ev));
    ASSERT_OK(OP(st, MP__OP_EV_CLEAR, ev));
    ASSERT_EQ(num_of(st, MP__OP_EV_IS_SET, ev), 0);

    /* A condition with its own RLock, and one on a given Lock. */
    oid_t c1 = create(st, MP_PROXY_CONDITION, -1, 0, NULL, 0);
    ASSERT_ERR(OP(st, MP__OP_NOTIFY, c1), MP_ENOTOWNER);
    ASSERT_ERR(ex(st, NULL, MP__OP_WAIT, c1, 10, 0, 0, NULL, 0, NULL, 0, NULL),
               MP_ENOTOWNER);
    ASSERT_OK(OP(st, MP__OP_ACQUIRE, c1));
    ASSERT_OK(OP(st, MP__OP_ACQUIRE, c1)); /* an RLock */
    ASSERT_ERR(ex(st, NULL, MP__OP_WAIT, c1, 150, 0, 0, NULL, 0, NULL, 0, NULL),
               MP_ETIMEDOUT);
    ASSERT_OK(OPN(st, MP__OP_NOTIFY, c1, 1));
    ASSERT_ERR(OPN(st, MP__OP_NOTIFY, c1, -1), MP_EINVAL);
    ASSERT_OK(OP(st, MP__OP_NOTIFY_ALL, c1));
    ASSERT_OK(OP(st, MP__OP_RELEASE, c1));
    ASSERT_OK(OP(st, MP__OP_RELEASE, c1));
    ASSERT_ERR(OP(st, MP__OP_RELEASE, c1), MP_ENOTOWNER);

    oid_t lk = create(st, MP_PROXY_LOCK, 0, 0, NULL, 0);
    oid_t c2 = create(st, MP_PROXY_CONDITION, lk.index, lk.gen, NULL, 0);
    ASSERT_OK(OP(st, MP__OP_ACQUIRE, c2));
    /* The condition's lock is the Lock object. */
    ASSERT_ERR(ex(st, NULL, MP__OP_ACQUIRE, lk, MP_NO_WAIT, 0, 0, NULL, 0, NULL,
                  0, NULL),
               MP_ETIMEDOUT);
    ASSERT_OK(OP(st, MP__OP_RELEASE, lk));
    /* The condition holds a reference on its lock. */
    ASSERT_OK(OP(st, MP__OP_DECREF, lk));
    ASSERT_EQ(mp__store_kind(st, lk.index, lk.gen), MP_PROXY_LOCK);
    ASSERT_OK(OP(st, MP__OP_DECREF, c2));
    ASSERT_ERR(mp__store_kind(st, lk.index, lk.gen), MP_ECLOSED);
    ASSERT_ERR(create_err(st, MP_PROXY_CONDITION, ev.index, ev.gen, NULL, 0),
               MP_EKIND);
    ASSERT_ERR(create_err(st, MP_PROXY_CONDITION, 99999, 1, NULL, 0),
               MP_EINVAL);
    ASSERT_ERR(create_err(st, MP_PROXY_CONDITION, lk.index, lk.gen, NULL, 0),
               MP_ECLOSED);

    oid_t bar = create(st, MP_PROXY_BARRIER, 1, 0, NULL, 0);
    mp__mgr_rep_t rep;
    ASSERT_OK(ex(st, NULL, MP__OP_WAIT, bar, -1, 0, 0, NULL, 0, NULL, 0, &rep));
    ASSERT_EQ(rep.num, 0);
    oid_t bar2 = create(st, MP_PROXY_BARRIER, 2, 0, NULL, 0);
    ASSERT_EQ(num_of(st, MP__OP_BAR_INFO, bar2), 2);
    ASSERT_ERR(
        ex(st, NULL, MP__OP_WAIT, bar2, 20, 0, 0, NULL, 0, NULL, 0, NULL),
        MP_ETIMEDOUT);
    ASSERT_EQ(num_of(st, MP__OP_BAR_INFO, bar2), 2 | (int64_t)1 << 32);
    ASSERT_ERR(OP(st, MP__OP_WAIT, bar2), MP_EBROKEN);
    ASSERT_OK(OP(st, MP__OP_BAR_RESET, bar2));
    ASSERT_OK(OP(st, MP__OP_BAR_ABORT, bar2));
    ASSERT_EQ(num_of(st, MP__OP_BAR_INFO, bar2), 2 | (int64_t)1 << 32);
    ASSERT_ERR(create_err(st, MP_PROXY_BARRIER, 0, 0, NULL, 0), MP_EINVAL);
    mp__store_destroy(st);
}

TEST(mgr_store_queues)
{
    mp__store_t *st = store_new();
    oid_t q = create(st, MP_PROXY_QUEUE, 2, 0, NULL, 0);
    ASSERT_OK(ex(st, NULL, MP__OP_Q_PUT, q, -1, 0, 0, "hi", 2, NULL, 0, NULL));
    ASSERT_OK(ex(st, NULL, MP__OP_Q_PUT, q, -1, 0, 0, "", 0, NULL, 0, NULL));
    ASSERT_ERR(ex(st, NULL, MP__OP_Q_PUT, q, 20, 0, 0, "x", 1, NULL, 0, NULL),
               MP_EFULL);
    ASSERT_EQ(num_of(st, MP__OP_Q_QSIZE, q), 2);
    mp__mgr_rep_t rep;
    ASSERT_OK(ex(st, NULL, MP__OP_Q_GET, q, -1, 0, 0, NULL, 0, NULL, 0, &rep));
    ASSERT_EQ(rep.len, 2u);
    ASSERT_MEM_EQ(rep.data, "hi", 2);
    mp__mgr_rep_clear(&rep);
    ASSERT_OK(ex(st, NULL, MP__OP_Q_GET, q, 0, 0, 0, NULL, 0, NULL, 0, NULL));
    ASSERT_ERR(ex(st, NULL, MP__OP_Q_GET, q, 30, 0, 0, NULL, 0, NULL, 0, NULL),
               MP_EEMPTY);
    ASSERT_ERR(OP(st, MP__OP_Q_TASK_DONE, q), MP_EKIND);
    ASSERT_ERR(OP(st, MP__OP_Q_JOIN, q), MP_EKIND);

    /* A child (another process) attaches by name on first use. */
    oid_t jq = create(st, MP_PROXY_JOINABLE_QUEUE, 0, 0, NULL, 0);
    ASSERT_ERR(OP(st, MP__OP_Q_TASK_DONE, jq), MP_EOVERRELEASE);
    ASSERT_OK(
        ex(st, NULL, MP__OP_Q_PUT, jq, -1, 0, 0, "job", 3, NULL, 0, NULL));
    ASSERT_ERR(
        ex(st, NULL, MP__OP_Q_JOIN, jq, 20, 0, 0, NULL, 0, NULL, 0, NULL),
        MP_ETIMEDOUT);
    ASSERT_OK(ex(st, NULL, MP__OP_Q_GET, jq, -1, 0, 0, NULL, 0, NULL, 0, NULL));
    ASSERT_OK(OP(st, MP__OP_Q_TASK_DONE, jq));
    ASSERT_OK(OP(st, MP__OP_Q_JOIN, jq));
    /* The last reference removes the queue. */
    ASSERT_OK(OP(st, MP__OP_DECREF, q));
    ASSERT_ERR(OP(st, MP__OP_Q_QSIZE, q), MP_ECLOSED);
    mp__store_destroy(st); /* removes jq's names */
}

static mp__store_t *g_st;
static oid_t g_obj, g_obj2;

static int
child_queue_roundtrip(void *arg)
{
    (void)arg;
    mp__mgr_rep_t rep;
    if (ex(g_st, NULL, MP__OP_Q_GET, g_obj, -1, 0, 0, NULL, 0, NULL, 0, &rep) !=
        0) {
        return 1;
    }
    int r = ex(g_st, NULL, MP__OP_Q_PUT, g_obj2, -1, 0, 0, rep.data, rep.len,
               NULL, 0, NULL);
    mp__mgr_rep_clear(&rep);
    return r == 0 ? 0 : 2;
}

TEST(mgr_store_queue_from_child)
{
    g_st = store_new();
    g_obj = create(g_st, MP_PROXY_QUEUE, 0, 0, NULL, 0);
    g_obj2 = create(g_st, MP_PROXY_QUEUE, 0, 0, NULL, 0);
    pid_t pid = mpt_fork(child_queue_roundtrip, NULL);
    ASSERT_OK(ex(g_st, NULL, MP__OP_Q_PUT, g_obj, -1, 0, 0, "ping", 4, NULL, 0,
                 NULL));
    mp__mgr_rep_t rep;
    ASSERT_OK(
        ex(g_st, NULL, MP__OP_Q_GET, g_obj2, -1, 0, 0, NULL, 0, NULL, 0, &rep));
    ASSERT_MEM_EQ(rep.data, "ping", 4);
    mp__mgr_rep_clear(&rep);
    ASSERT_EQ(mpt_join(pid), 0);
    mp__store_destroy(g_st);
}

TEST(mgr_store_ids_and_hostile_requests)
{
    mp__store_t *st = store_new();
    oid_t d = create(st, MP_PROXY_DICT, 0, 0, NULL, 0);
    mp__mgr_rep_t rep;
    ASSERT_OK(
        ex(st, NULL, MP__OP_DESCRIBE, d, 0, 0, 0, NULL, 0, NULL, 0, &rep));
    ASSERT_EQ(rep.num, MP_PROXY_DICT);
    ASSERT_OK(OP(st, MP__OP_INCREF, d));
    ASSERT_OK(OP(st, MP__OP_DECREF, d));
    ASSERT_EQ(num_of(st, MP__OP_DICT_LEN, d), 0);
    ASSERT_OK(OP(st, MP__OP_DECREF, d));
    ASSERT_ERR(OP(st, MP__OP_DICT_LEN, d), MP_ECLOSED);
    ASSERT_ERR(OP(st, MP__OP_DECREF, d), MP_ECLOSED);
    ASSERT_ERR(OP(st, MP__OP_INCREF, d), MP_ECLOSED);
    /* The entry is reused with a new generation: the old id stays dead. */
    oid_t l = create(st, MP_PROXY_LIST, 0, 0, NULL, 0);
    ASSERT_EQ(l.index, d.index);
    ASSERT_NE(l.gen, d.gen);
    ASSERT_ERR(OP(st, MP__OP_DICT_LEN, d), MP_ECLOSED);
    /* Bad ids. */
    ASSERT_ERR(OP(st, MP__OP_LIST_LEN, ((oid_t){UINT32_MAX, 1})), MP_EINVAL);
    ASSERT_ERR(OP(st, MP__OP_LIST_LEN, ((oid_t){l.index, 0})), MP_ECLOSED);
    ASSERT_ERR(OP(st, MP__OP_LIST_LEN, ((oid_t){l.index + 5, 1})), MP_ECLOSED);
    ASSERT_ERR(mp__store_kind(st, UINT32_MAX, 1), MP_EINVAL);
    /* Wrong kinds, ops exec does not run, unknown ops. */
    ASSERT_ERR(OP(st, MP__OP_DICT_LEN, l), MP_EKIND);
    ASSERT_ERR(OP(st, MP__OP_ACQUIRE, l), MP_EKIND);
    ASSERT_ERR(OP(st, MP__OP_Q_GET, l), MP_EKIND);
    ASSERT_ERR(OP(st, MP__OP_HELLO, l), MP_EINVAL);
    ASSERT_ERR(OP(st, MP__OP_SHUTDOWN, l), MP_EINVAL);
    ASSERT_ERR(OP(st, MP__OP_USER_CALL, l), MP_EINVAL);
    ASSERT_ERR(OP(st, 9999, l), MP_EINVAL);
    ASSERT_ERR(OP(st, 0, l), MP_EINVAL);
    /* Creates of unknown kinds or user types. */
    ASSERT_ERR(create_err(st, 0, 0, 0, NULL, 0), MP_EINVAL);
    ASSERT_ERR(create_err(st, MP_PROXY_USER, 0, 0, NULL, 0), MP_EINVAL);
    ASSERT_ERR(create_err(st, 1000, 0, 0, NULL, 0), MP_EINVAL);
    ASSERT_ERR(create_err(st, -3, 0, 0, NULL, 0), MP_EINVAL);
    /* NULLs. */
    ASSERT_ERR(mp__mgr_exec(NULL, NULL, NULL, &rep), MP_EINVAL);
    ASSERT_ERR(mp__mgr_exec(st, NULL, NULL, NULL), MP_EINVAL);
    /* User objects: ids and handles. */
    uint32_t ui, ug;
    uint64_t h;
    ASSERT_OK(mp__store_user_new(st, 0xabc, &ui, &ug));
    ASSERT_OK(mp__store_user_handle(st, ui, ug, &h));
    ASSERT_EQ(h, 0xabcu);
    ASSERT_ERR(mp__store_user_handle(st, l.index, l.gen, &h), MP_EKIND);
    ASSERT_EQ(mp__store_kind(st, ui, ug), MP_PROXY_USER);
    ASSERT_ERR(OP(st, MP__OP_DICT_LEN, ((oid_t){ui, ug})), MP_EKIND);
    ASSERT_OK(OP(st, MP__OP_DECREF, ((oid_t){ui, ug})));
    /* The store fills up: MP_ENOMEM, and it still works afterwards. */
    char *big = mp__calloc(1, 1 << 20);
    ASSERT_NOT_NULL(big);
    int r = 0, n = 0;
    while ((r = ex(st, NULL, MP__OP_LIST_APPEND, l, 0, 0, 0, big, 1 << 20, NULL,
                   0, NULL)) == 0) {
        n++;
    }
    ASSERT_ERR(r, MP_ENOMEM);
    ASSERT_GT(n, 5);
    mp__free(big);
    ASSERT_OK(OP(st, MP__OP_LIST_CLEAR, l));
    ASSERT_OK(OPS(st, MP__OP_LIST_APPEND, l, "ok"));
    mp__store_destroy(st);
}

/* Decoded-packed-list checks (the format manager_internal.h defines). */
TEST(mgr_store_pack_unpack)
{
    mp_buf_t in[2] = {{"ab", 2}, {"", 0}};
    uint8_t buf[32];
    size_t n = 0;
    ASSERT_OK(mp__mgr_pack_size(in, 2, &n));
    ASSERT_EQ(n, 18u);
    /* Lengths whose sum passes SIZE_MAX are refused, not wrapped. */
    mp_buf_t huge[2] = {{"ab", 2}, {"", SIZE_MAX - 9}};
    ASSERT_ERR(mp__mgr_pack_size(huge, 2, &n), MP_ENOMEM);
    ASSERT_EQ(n, 18u);
    mp__mgr_pack(in, 2, buf);
    mp_buf_t *out;
    ASSERT_OK(mp__mgr_unpack(buf, n, 2, &out));
    ASSERT_EQ(out[0].len, 2u);
    ASSERT_MEM_EQ(out[0].data, "ab", 2);
    ASSERT_EQ(out[1].len, 0u);
    mp_free(out);
    ASSERT_ERR(mp__mgr_unpack(buf, n, 1, &out), MP_EPROTO);
    ASSERT_ERR(mp__mgr_unpack(buf, n, 3, &out), MP_EPROTO);
    ASSERT_ERR(mp__mgr_unpack(buf, n - 1, 2, &out), MP_EPROTO);
    ASSERT_ERR(mp__mgr_unpack(buf, n, SIZE_MAX, &out), MP_EPROTO);
    memset(buf, 0xff, 8); /* a huge length */
    ASSERT_ERR(mp__mgr_unpack(buf, n, 2, &out), MP_EPROTO);
    ASSERT_OK(mp__mgr_unpack(NULL, 0, 0, &out));
    mp_free(out);
    mp__mgr_rep_clear(NULL);
}

/*--- many processes ---------------------------------------------------------*/

#define STRESS_CHILDREN 4

static int
child_hammer(void *arg)
{
    int id = (int)(intptr_t)arg;
    int rounds = mpt_slow() ? 100 : 400;
    char key[32], val[32], buf[32];
    for (int i = 0; i < rounds; i++) {
        /* A counter under a manager Lock: exact only if the lock works. */
        if (OP(g_st, MP__OP_ACQUIRE, g_obj2) != 0) {
            return 1;
        }
        long cur = 0;
        if (dget(g_st, g_obj, "count", buf, sizeof buf) == 0) {
            cur = atol(buf);
        }
        snprintf(val, sizeof val, "%ld", cur + 1);
        if (dset(g_st, g_obj, "count", val) != 0 ||
            OP(g_st, MP__OP_RELEASE, g_obj2) != 0) {
            return 2;
        }
        snprintf(key, sizeof key, "c%d-%d", id, i);
        if (dset(g_st, g_obj, key, "x") != 0) {
            return 3;
        }
    }
    return 0;
}

TEST_TIMEOUT(mgr_store_multiprocess_stress, 120)
{
    g_st = store_new();
    g_obj = create(g_st, MP_PROXY_DICT, 0, 0, NULL, 0);
    g_obj2 = create(g_st, MP_PROXY_LOCK, 0, 0, NULL, 0);
    pid_t pids[STRESS_CHILDREN];
    for (int i = 0; i < STRESS_CHILDREN; i++) {
        pids[i] = mpt_fork(child_hammer, (void *)(intptr_t)i);
    }
    for (int i = 0; i < STRESS_CHILDREN; i++) {
        ASSERT_EQ(mpt_join(pids[i]), 0);
    }
    int rounds = mpt_slow() ? 100 : 400;
    char buf[32];
    ASSERT_OK(dget(g_st, g_obj, "count", buf, sizeof buf));
    ASSERT_EQ(atol(buf), (long)STRESS_CHILDREN * rounds);
    ASSERT_EQ(num_of(g_st, MP__OP_DICT_LEN, g_obj),
              STRESS_CHILDREN * rounds + 1);
    mp__store_destroy(g_st);
}

static int
child_append_forever(void *arg)
{
    mpt_pipe_t *ready = arg;
    char val[64];
    memset(val, 'v', sizeof val);
    for (long i = 0;; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%ld", i % 300);
        ex(g_st, NULL, MP__OP_DICT_SET, g_obj, 0, 0, 0, key, strlen(key), val,
           (size_t)(i % 64), NULL);
        if (i % 3 == 0) {
            ex(g_st, NULL, MP__OP_DICT_DELETE, g_obj, 0, 0, 0, key, strlen(key),
               NULL, 0, NULL);
        }
        ex(g_st, NULL, MP__OP_LIST_INSERT, g_obj2, 0, i % 7, 0, key,
           strlen(key), NULL, 0, NULL);
        if (i % 2 == 0) {
            ex(g_st, NULL, MP__OP_LIST_POP, g_obj2, 0, 0, 0, NULL, 0, NULL, 0,
               NULL);
        }
        if (i == 50) {
            mpt_signal(ready, 1);
        }
    }
    return 0;
}

TEST_TIMEOUT(mgr_store_child_killed_mid_op, 120)
{
    g_st = store_new();
    g_obj = create(g_st, MP_PROXY_DICT, 0, 0, NULL, 0);
    g_obj2 = create(g_st, MP_PROXY_LIST, 0, 0, NULL, 0);
    int loops = mpt_slow() ? 8 : 25;
    for (int k = 0; k < loops; k++) {
        mpt_pipe_t ready;
        mpt_pipe_open(&ready);
        pid_t pid = mpt_fork(child_append_forever, &ready);
        ASSERT_OK(mpt_wait_signal(&ready, NULL));
        ASSERT_EQ(kill(pid, SIGKILL), 0);
        ASSERT_EQ(mpt_join(pid), -SIGKILL);
        mpt_pipe_close(&ready);
        /* Consistent: the keys listed are all there, len agrees. */
        mp__mgr_rep_t rep;
        ASSERT_OK(ex(g_st, NULL, MP__OP_DICT_KEYS, g_obj, 0, 0, 0, NULL, 0,
                     NULL, 0, &rep));
        ASSERT_EQ(num_of(g_st, MP__OP_DICT_LEN, g_obj), rep.num);
        mp_buf_t *keys;
        ASSERT_OK(mp__mgr_unpack(rep.data, rep.len, (size_t)rep.num, &keys));
        for (int64_t i = 0; i < rep.num; i++) {
            ASSERT_OK(ex(g_st, NULL, MP__OP_DICT_CONTAINS, g_obj, 0, 0, 0,
                         keys[i].data, keys[i].len, NULL, 0, NULL));
        }
        mp_free(keys);
        mp__mgr_rep_clear(&rep);
        ASSERT_OK(dset(g_st, g_obj, "after", "ok"));
        ASSERT_OK(OPS(g_st, MP__OP_DICT_DELETE, g_obj, "after"));
        int64_t n = num_of(g_st, MP__OP_LIST_LEN, g_obj2);
        ASSERT_GE(n, 0);
        for (int64_t i = 0; i < n; i++) {
            char buf[64];
            ASSERT_OK(lget(g_st, g_obj2, i, buf, sizeof buf));
            ASSERT_EQ(buf[0], 'k');
        }
    }
    ASSERT_OK(OP(g_st, MP__OP_LIST_CLEAR, g_obj2));
    ASSERT_OK(OP(g_st, MP__OP_DICT_CLEAR, g_obj));
    mp__store_destroy(g_st);
}

static int
child_take_lock_and_wait(void *arg)
{
    mpt_pipe_t *ready = arg;
    if (OP(g_st, MP__OP_ACQUIRE, g_obj) != 0) {
        return 1;
    }
    mpt_signal(ready, 1);
    for (;;) {
        pause();
    }
}

TEST(mgr_store_lock_holder_killed)
{
    g_st = store_new();
    g_obj = create(g_st, MP_PROXY_LOCK, 0, 0, NULL, 0);
    mpt_pipe_t ready;
    mpt_pipe_open(&ready);
    pid_t pid = mpt_fork(child_take_lock_and_wait, &ready);
    ASSERT_OK(mpt_wait_signal(&ready, NULL));
    ASSERT_ERR(ex(g_st, NULL, MP__OP_ACQUIRE, g_obj, MP_NO_WAIT, 0, 0, NULL, 0,
                  NULL, 0, NULL),
               MP_ETIMEDOUT);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(mpt_join(pid), -SIGKILL);
    ASSERT_ERR(OP(g_st, MP__OP_ACQUIRE, g_obj), MP_EOWNERDEAD);
    ASSERT_OK(OP(g_st, MP__OP_RELEASE, g_obj));
    ASSERT_OK(OP(g_st, MP__OP_ACQUIRE, g_obj)); /* clean again */
    ASSERT_OK(OP(g_st, MP__OP_RELEASE, g_obj));
    mpt_pipe_close(&ready);
    mp__store_destroy(g_st);
}

/*--- the server's liveness
 * ---------------------------------------------------*/

static int
child_serve(void *arg)
{
    mpt_pipe_t *ready = arg;
    if (mp__store_serve(g_st) != 0) {
        return 1;
    }
    mpt_signal(ready, 1);
    for (;;) {
        pause();
    }
}

static int
child_blocked_acquire(void *arg)
{
    mpt_pipe_t *ready = arg;
    mpt_signal(ready, 2);
    int r = OP(g_st, MP__OP_ACQUIRE, g_obj); /* held by the parent */
    return r == MP_ENOSERVER ? 0 : 1;
}

static int
child_blocked_barrier(void *arg)
{
    mpt_pipe_t *ready = arg;
    mpt_signal(ready, 3);
    int r = OP(g_st, MP__OP_WAIT, g_obj2);
    return r == MP_ENOSERVER || r == MP_EBROKEN ? 0 : 1;
}

TEST(mgr_store_server_killed)
{
    g_st = store_new();
    g_obj = create(g_st, MP_PROXY_LOCK, 0, 0, NULL, 0);
    g_obj2 = create(g_st, MP_PROXY_BARRIER, 3, 0, NULL, 0);
    mpt_pipe_t ready;
    mpt_pipe_open(&ready);
    pid_t server = mpt_fork(child_serve, &ready);
    ASSERT_OK(mpt_wait_signal(&ready, NULL));
    ASSERT_OK(mp__store_alive(g_st));
    ASSERT_OK(OP(g_st, MP__OP_ACQUIRE, g_obj));
    pid_t waiter = mpt_fork(child_blocked_acquire, &ready);
    pid_t bwaiter = mpt_fork(child_blocked_barrier, &ready);
    ASSERT_OK(mpt_wait_signal(&ready, NULL));
    ASSERT_OK(mpt_wait_signal(&ready, NULL));
    ASSERT_OK(mp__store_alive(g_st));
    ASSERT_EQ(kill(server, SIGKILL), 0);
    ASSERT_EQ(mpt_join(server), -SIGKILL);
    ASSERT_EQ(mpt_join(waiter), 0);
    ASSERT_EQ(mpt_join(bwaiter), 0);
    ASSERT_ERR(mp__store_alive(g_st), MP_ENOSERVER);
    ASSERT_ERR(OP(g_st, MP__OP_RELEASE, g_obj), MP_ENOSERVER);
    mpt_pipe_close(&ready);
    mp__store_destroy(g_st);
}

TEST(mgr_store_close_down)
{
    mp__store_t *st = store_new();
    oid_t d = create(st, MP_PROXY_DICT, 0, 0, NULL, 0);
    ASSERT_OK(mp__store_serve(st));
    ASSERT_OK(mp__store_alive(st));
    ASSERT_OK(dset(st, d, "k", "v"));
    mp__store_close_down(st);
    ASSERT_ERR(mp__store_alive(st), MP_ENOSERVER);
    ASSERT_ERR(dset(st, d, "k", "v"), MP_ENOSERVER);
    mp__store_destroy(st);
}

/*--- references per session (issue 21, item 2) ----------------------------*/

/* CREATE of kind through session s; returns the id. */
static oid_t
session_create(mp__store_t *st, mp__mgr_session_t *s, int kind)
{
    mp__mgr_rep_t rep;
    ASSERT_OK(ex(st, s, MP__OP_CREATE, (oid_t){0, 0}, 0, kind, 0, NULL, 0, NULL,
                 0, &rep));
    mp__mgr_rep_clear(&rep);
    return (oid_t){(uint32_t)rep.num, rep.gen};
}

#define SOP(st, s, op, id) ex(st, s, op, id, 0, 0, 0, NULL, 0, NULL, 0, NULL)

/* A session drops only references it holds; ending one drops exactly its
 * own, however many objects and references it had. */
TEST(mgr_session_drops_only_own_references)
{
    mp__store_t *st;
    ASSERT_OK(mp__store_create(&st, STORE_SIZE));
    mp__mgr_session_t *a = mp__mgr_session_new(), *b = mp__mgr_session_new();
    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(b);

    oid_t d = session_create(st, a, MP_PROXY_DICT);
    ASSERT_OK(dset(st, d, "k", "v"));
    /* b never referenced d: its DECREF is refused and changes nothing. */
    ASSERT_ERR(SOP(st, b, MP__OP_DECREF, d), MP_ENOTOWNER);
    ASSERT_ERR(SOP(st, b, MP__OP_DECREF, d), MP_ENOTOWNER);
    char buf[8];
    ASSERT_OK(dget(st, d, "k", buf, sizeof buf));
    /* Its own reference it may drop, once. */
    ASSERT_OK(SOP(st, b, MP__OP_INCREF, d));
    ASSERT_EQ(mp__mgr_session_refs(b), 1);
    ASSERT_OK(SOP(st, b, MP__OP_DECREF, d));
    ASSERT_ERR(SOP(st, b, MP__OP_DECREF, d), MP_ENOTOWNER);
    ASSERT_OK(dget(st, d, "k", buf, sizeof buf));

    /* Many objects, some referenced twice, some dropped again, in an order
     * that moves entries about in the session's table. */
    enum { N = 1500 };
    static oid_t ids[N];
    for (int i = 0; i < N; i++) {
        ids[i] = session_create(st, a, i % 2 ? MP_PROXY_EVENT : MP_PROXY_LOCK);
        if (i % 3 == 0) {
            ASSERT_OK(SOP(st, a, MP__OP_INCREF, ids[i]));
        }
    }
    ASSERT_EQ(mp__mgr_session_refs(a), 1 + N + (N + 2) / 3);
    for (int i = N - 1; i >= 0; i -= 2) {
        ASSERT_OK(SOP(st, a, MP__OP_DECREF, ids[i]));
        /* Still referenced by a (not b's), or gone. */
        ASSERT_ERR(SOP(st, b, MP__OP_DECREF, ids[i]),
                   i % 3 == 0 ? MP_ENOTOWNER : MP_ECLOSED);
    }
    for (int i = 0; i < N; i++) {
        bool gone = i % 2 == 1 && i % 3 != 0;
        ASSERT_EQ(SOP(st, NULL, MP__OP_DESCRIBE, ids[i]),
                  gone ? MP_ECLOSED : 0);
    }
    /* b shares one of them; a's end leaves exactly b's. */
    ASSERT_OK(SOP(st, b, MP__OP_INCREF, ids[0]));
    mp__mgr_session_end(st, a);
    ASSERT_OK(SOP(st, NULL, MP__OP_DESCRIBE, ids[0]));
    for (int i = 1; i < N; i++) {
        ASSERT_ERR(SOP(st, NULL, MP__OP_DESCRIBE, ids[i]), MP_ECLOSED);
    }
    ASSERT_ERR(SOP(st, NULL, MP__OP_DESCRIBE, d), MP_ECLOSED);
    mp__mgr_session_end(st, b);
    ASSERT_ERR(SOP(st, NULL, MP__OP_DESCRIBE, ids[0]), MP_ECLOSED);
    mp__store_destroy(st);
}

/* One session holds at most MP__MGR_SESSION_REFS_MAX references: more is
 * MP_ENOSPC (nothing made, nothing counted), and room comes back when one
 * is dropped. */
TEST_TIMEOUT(mgr_session_reference_limit, 120)
{
    mp__store_t *st;
    ASSERT_OK(mp__store_create(&st, STORE_SIZE));
    mp__mgr_session_t *s = mp__mgr_session_new();
    ASSERT_NOT_NULL(s);
    oid_t ev = session_create(st, s, MP_PROXY_EVENT);
    oid_t d = session_create(st, s, MP_PROXY_DICT);
    for (uint32_t i = 2; i < MP__MGR_SESSION_REFS_MAX; i++) {
        ASSERT_OK(SOP(st, s, MP__OP_INCREF, ev));
    }
    ASSERT_EQ(mp__mgr_session_refs(s), MP__MGR_SESSION_REFS_MAX);
    ASSERT_ERR(SOP(st, s, MP__OP_INCREF, d), MP_ENOSPC);
    mp__mgr_rep_t rep;
    ASSERT_ERR(ex(st, s, MP__OP_CREATE, (oid_t){0, 0}, 0, MP_PROXY_LIST, 0,
                  NULL, 0, NULL, 0, &rep),
               MP_ENOSPC);
    ASSERT_EQ(mp__mgr_session_refs(s), MP__MGR_SESSION_REFS_MAX);
    ASSERT_OK(SOP(st, s, MP__OP_DECREF, d));
    ASSERT_ERR(SOP(st, NULL, MP__OP_DESCRIBE, d), MP_ECLOSED);
    oid_t l = session_create(st, s, MP_PROXY_LIST);
    ASSERT_ERR(SOP(st, s, MP__OP_INCREF, l), MP_ENOSPC);
    /* The end drops them all. */
    mp__mgr_session_end(st, s);
    ASSERT_ERR(SOP(st, NULL, MP__OP_DESCRIBE, ev), MP_ECLOSED);
    ASSERT_ERR(SOP(st, NULL, MP__OP_DESCRIBE, l), MP_ECLOSED);
    mp__store_destroy(st);
}

/*--- a manager Event's wait (issue 21, item 16) ----------------------------*/

/* The check between two slices of a wait: set() then clear() at once. */
static int
set_then_clear(void *arg)
{
    mp_event_t *ev = arg;
    ASSERT_OK(mp_event_set(ev));
    ASSERT_OK(mp_event_clear(ev));
    return 0;
}

/* A waiter waiting when set() ran returns 0 even if clear() followed
 * before it looked, also when it happens between two slices of the
 * sliced wait the manager uses (which checks the server between them). */
TEST_TIMEOUT(mgr_event_set_clear_between_slices, 60)
{
    mp_event_t *ev;
    ASSERT_OK(mp_event_create(&ev));
    ASSERT_OK(mp__event_wait_checked(ev, 20000, set_then_clear, ev));
    ASSERT_EQ(mp_event_is_set(ev), 0);
    mp_event_destroy(ev);
}
