/* SPDX-License-Identifier: MIT */
/* test-queue.c - Queue, SimpleQueue and JoinableQueue: every call's normal
 * path and documented errors, bad input, Empty/Full with MP_NO_WAIT and
 * short timeouts, get_into with a short buffer, empty and very large
 * messages, bounded and unbounded (overflow) queues, FIFO per producer,
 * close/join_thread, task_done/join, and attaching by name from a process
 * that was running before the queue existed. */
#include "runner.h"

#include "queue/queue_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- helpers ------------------------------------------------------------ */

/* Fills len bytes with a pattern derived from seed. */
static void
fill(void *buf, size_t len, uint32_t seed)
{
    unsigned char *b = buf;
    for (size_t i = 0; i < len; i++) {
        b[i] = (unsigned char)(seed + i * 131u + (i >> 8));
    }
}

/* 1 if len bytes hold fill()'s pattern for seed. */
static int
check(const void *buf, size_t len, uint32_t seed)
{
    const unsigned char *b = buf;
    for (size_t i = 0; i < len; i++) {
        if (b[i] != (unsigned char)(seed + i * 131u + (i >> 8))) {
            return 0;
        }
    }
    return 1;
}

/* Puts a 4-byte integer message. */
static void
put_int(mp_queue_t *q, uint32_t v)
{
    ASSERT_OK(mp_queue_put(q, &v, sizeof v, MP_WAIT_FOREVER));
}

/* Gets a 4-byte integer message. */
static uint32_t
get_int(mp_queue_t *q)
{
    uint32_t v = 0;
    ASSERT_EQ(mp_queue_get_into(q, &v, sizeof v, MP_WAIT_FOREVER), sizeof v);
    return v;
}

typedef struct qarg {
    mp_queue_t *q;
    mpt_pipe_t pipe; /* parent -> child */
    mpt_pipe_t back; /* child -> parent */
    uint32_t id;
    uint32_t count;
} qarg_t;

/* --- create, name, sizes, bad input ------------------------------------- */

TEST(queue_create_and_sizes)
{
    mp_queue_t *q = NULL;
    ASSERT_OK(mp_simple_queue_create(&q));
    ASSERT_NOT_NULL(mp_queue_name(q));
    ASSERT_EQ(mp_queue_qsize(q), 0);
    ASSERT_EQ(mp_queue_empty(q), 1);
    ASSERT_EQ(mp_queue_full(q), 0);
    put_int(q, 1);
    put_int(q, 2);
    ASSERT_EQ(mp_queue_qsize(q), 2);
    ASSERT_EQ(mp_queue_empty(q), 0);
    ASSERT_EQ(mp_queue_full(q), 0);
    ASSERT_EQ(get_int(q), 1);
    ASSERT_EQ(get_int(q), 2);
    ASSERT_EQ(mp_queue_empty(q), 1);
    mp_queue_destroy(q);

    mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
    o.maxsize = 2;
    ASSERT_OK(mp_queue_create(&q, &o));
    put_int(q, 1);
    ASSERT_EQ(mp_queue_full(q), 0);
    put_int(q, 2);
    ASSERT_EQ(mp_queue_full(q), 1);
    mp_queue_destroy(q);

    ASSERT_OK(mp_joinable_queue_create(&q, 0));
    ASSERT_EQ(mp_queue_full(q), 0);
    mp_queue_destroy(q);
    mp_queue_destroy(NULL);
}

TEST(queue_bad_input)
{
    mp_queue_t *q = NULL;
    void *out = NULL;
    char buf[8];
    ASSERT_ERR(mp_queue_create(NULL, NULL), MP_EINVAL);
    ASSERT_ERR(mp_simple_queue_create(NULL), MP_EINVAL);
    ASSERT_ERR(mp_joinable_queue_create(NULL, 1), MP_EINVAL);
    mp_queue_opts_t huge = MP_QUEUE_OPTS_INIT;
    huge.capacity = SIZE_MAX;
    ASSERT_ERR(mp_queue_create(&q, &huge), MP_EINVAL);
    ASSERT_NULL(q);
    ASSERT_NULL(mp_queue_name(NULL));
    ASSERT_ERR(mp_queue_attach(NULL, "x"), MP_EINVAL);
    ASSERT_ERR(mp_queue_attach(&q, NULL), MP_EINVAL);
    ASSERT_ERR(mp_queue_put(NULL, "a", 1, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_put_nowait(NULL, "a", 1), MP_EINVAL);
    ASSERT_ERR(mp_queue_get(NULL, &out, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_get_nowait(NULL, &out), MP_EINVAL);
    ASSERT_ERR(mp_queue_get_into(NULL, buf, 8, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_qsize(NULL), MP_EINVAL);
    ASSERT(!mp_queue_empty(NULL));
    ASSERT(!mp_queue_full(NULL));
    ASSERT_ERR(mp_queue_close(NULL), MP_EINVAL);
    ASSERT_ERR(mp_queue_join_thread(NULL), MP_EINVAL);
    ASSERT_ERR(mp_queue_cancel_join_thread(NULL), MP_EINVAL);
    ASSERT_ERR(mp_queue_task_done(NULL), MP_EINVAL);
    ASSERT_ERR(mp_queue_join(NULL, MP_NO_WAIT), MP_EINVAL);

    ASSERT_OK(mp_simple_queue_create(&q));
    ASSERT_ERR(mp_queue_put(q, NULL, 1, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_put(q, "a", 1, -5), MP_EINVAL);
    ASSERT_ERR(mp_queue_put(q, "a", 1, MP_WAIT_DEFAULT), MP_EINVAL);
    ASSERT_ERR(mp_queue_get(q, NULL, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_get(q, &out, -3), MP_EINVAL);
    ASSERT_ERR(mp_queue_get_into(q, NULL, 4, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_get_into(q, buf, 8, -7), MP_EINVAL);
    /* Not joinable. */
    ASSERT_ERR(mp_queue_task_done(q), MP_EINVAL);
    ASSERT_ERR(mp_queue_join(q, MP_NO_WAIT), MP_EINVAL);
    /* Nothing was put by the failed calls. */
    ASSERT_EQ(mp_queue_qsize(q), 0);
    /* A NULL buffer is fine for an empty message. */
    ASSERT_OK(mp_queue_put(q, NULL, 0, MP_NO_WAIT));
    ASSERT_EQ(mp_queue_get_into(q, NULL, 0, MP_NO_WAIT), 0);
    mp_queue_destroy(q);
}

/* --- put and get -------------------------------------------------------- */

TEST(queue_put_get_roundtrip)
{
    mp_queue_t *q;
    ASSERT_OK(mp_simple_queue_create(&q));
    ASSERT_OK(mp_queue_put(q, "hello", 5, MP_WAIT_FOREVER));
    ASSERT_OK(mp_queue_put_nowait(q, "", 0));
    ASSERT_OK(mp_queue_put(q, "world!", 6, 100));
    void *out = NULL;
    ASSERT_EQ(mp_queue_get(q, &out, MP_WAIT_FOREVER), 5);
    ASSERT_MEM_EQ(out, "hello", 5);
    mp_free(out);
    out = NULL;
    ASSERT_EQ(mp_queue_get_nowait(q, &out), 0);
    ASSERT_NOT_NULL(out); /* non-NULL for an empty message too */
    mp_free(out);
    char buf[16];
    ASSERT_EQ(mp_queue_get_into(q, buf, sizeof buf, 100), 6);
    ASSERT_MEM_EQ(buf, "world!", 6);
    mp_queue_destroy(q);
}

/* mp__queue_put_two (a header and a body that lives elsewhere, as a map's
 * chunks are put) puts one message of both parts: joined where it fits a
 * ring cell, copied part by part into the heap where it does not; either
 * part may be empty; bad parts and sizes are refused as mp_queue_put
 * refuses them. */
TEST(queue_put_two_parts_as_one_message)
{
    mp_queue_t *q;
    ASSERT_OK(mp_simple_queue_create(&q));
    enum { BIG = 5000 };
    char *head = malloc(BIG), *tail = malloc(BIG);
    ASSERT_NOT_NULL(head);
    ASSERT_NOT_NULL(tail);
    fill(head, BIG, 1);
    fill(tail, BIG, 2);
    static const size_t shapes[][2] = {{10, 20},  {0, 8},     {8, 0},  {0, 0},
                                       {40, BIG}, {BIG, BIG}, {BIG, 0}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        size_t hl = shapes[k][0], tl = shapes[k][1];
        ASSERT_OK(mp__queue_put_two(q, hl > 0 ? head : NULL, hl,
                                    tl > 0 ? tail : NULL, tl, MP_NO_WAIT));
        void *out = NULL;
        ASSERT_EQ(mp_queue_get(q, &out, MP_NO_WAIT), (ssize_t)(hl + tl));
        ASSERT_MEM_EQ(out, head, hl);
        ASSERT_MEM_EQ((char *)out + hl, tail, tl);
        mp_free(out);
    }
    ASSERT_ERR(mp__queue_put_two(NULL, head, 1, tail, 1, MP_NO_WAIT),
               MP_EINVAL);
    ASSERT_ERR(mp__queue_put_two(q, NULL, 1, tail, 1, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp__queue_put_two(q, head, 1, NULL, 1, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp__queue_put_two(q, head, 1, tail, 1, -5), MP_EINVAL);
    /* Parts whose sum wraps, or is above the capacity. */
    ASSERT_ERR(mp__queue_put_two(q, head, SIZE_MAX, tail, 2, MP_NO_WAIT),
               MP_EMSGSIZE);
    ASSERT_ERR(mp__queue_put_two(q, head, SIZE_MAX / 2, tail, SIZE_MAX / 2,
                                 MP_NO_WAIT),
               MP_EMSGSIZE);
    ASSERT_EQ(mp_queue_qsize(q), 0);
    free(head);
    free(tail);
    mp_queue_destroy(q);
}

TEST(queue_empty_nowait_and_timeout)
{
    mp_queue_t *q;
    ASSERT_OK(mp_simple_queue_create(&q));
    void *out = NULL;
    char buf[4];
    ASSERT_ERR(mp_queue_get_nowait(q, &out), MP_EEMPTY);
    ASSERT_ERR(mp_queue_get(q, &out, MP_NO_WAIT), MP_EEMPTY);
    ASSERT_ERR(mp_queue_get(q, &out, 10), MP_EEMPTY);
    ASSERT_ERR(mp_queue_get_into(q, buf, sizeof buf, 10), MP_EEMPTY);
    ASSERT_NULL(out);
    mp_queue_destroy(q);
}

TEST(queue_bounded_full_nowait_and_timeout)
{
    /* 3 and 5 are not powers of two: the bound is exact anyway. */
    long sizes[] = {1, 3, 5};
    for (size_t k = 0; k < MP__ARRAY_SIZE(sizes); k++) {
        mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
        o.maxsize = sizes[k];
        mp_queue_t *q;
        ASSERT_OK(mp_queue_create(&q, &o));
        for (long i = 0; i < sizes[k]; i++) {
            ASSERT_OK(mp_queue_put_nowait(q, &i, sizeof i));
        }
        long x = 99;
        ASSERT_EQ(mp_queue_full(q), 1);
        ASSERT_EQ(mp_queue_qsize(q), sizes[k]);
        ASSERT_ERR(mp_queue_put_nowait(q, &x, sizeof x), MP_EFULL);
        ASSERT_ERR(mp_queue_put(q, &x, sizeof x, 10), MP_EFULL);
        ASSERT_EQ(mp_queue_qsize(q), sizes[k]);
        /* Taking one makes room for exactly one, again and again. */
        for (long i = 0; i < 3 * sizes[k]; i++) {
            long v = -1;
            ASSERT_EQ(mp_queue_get_into(q, &v, sizeof v, MP_NO_WAIT), sizeof v);
            ASSERT_EQ(v, i);
            long nv = i + sizes[k];
            ASSERT_OK(mp_queue_put_nowait(q, &nv, sizeof nv));
            ASSERT_ERR(mp_queue_put_nowait(q, &x, sizeof x), MP_EFULL);
        }
        mp_queue_destroy(q);
    }
}

TEST(queue_get_into_too_small_leaves_message)
{
    mp_queue_t *q;
    ASSERT_OK(mp_simple_queue_create(&q));
    char big[300];
    fill(big, sizeof big, 7);
    ASSERT_OK(mp_queue_put(q, "0123456789", 10, MP_NO_WAIT));
    ASSERT_OK(mp_queue_put(q, big, sizeof big, MP_NO_WAIT));
    char buf[400];
    ASSERT_ERR(mp_queue_get_into(q, buf, 9, MP_NO_WAIT), MP_EMSGSIZE);
    ASSERT_ERR(mp_queue_get_into(q, buf, 0, MP_WAIT_FOREVER), MP_EMSGSIZE);
    ASSERT_EQ(mp_queue_qsize(q), 2);
    ASSERT_EQ(mp_queue_get_into(q, buf, 10, MP_NO_WAIT), 10);
    ASSERT_MEM_EQ(buf, "0123456789", 10);
    ASSERT_ERR(mp_queue_get_into(q, buf, 299, MP_NO_WAIT), MP_EMSGSIZE);
    ASSERT_EQ(mp_queue_get_into(q, buf, sizeof buf, MP_NO_WAIT), 300);
    ASSERT(check(buf, 300, 7));
    mp_queue_destroy(q);
}

TEST(queue_message_size_limits)
{
    mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
    o.capacity = 4096;
    mp_queue_t *q;
    ASSERT_OK(mp_queue_create(&q, &o));
    char *buf = malloc(8192);
    ASSERT_NOT_NULL(buf);
    fill(buf, 8192, 3);
    ASSERT_ERR(mp_queue_put(q, buf, 4097, MP_NO_WAIT), MP_EMSGSIZE);
    ASSERT_OK(mp_queue_put(q, buf, 4096, MP_NO_WAIT));
    /* The data area fills up with unread messages: MP_ENOMEM. */
    int n = 1, r;
    while ((r = mp_queue_put(q, buf, 4000, MP_NO_WAIT)) == 0) {
        n++;
        ASSERT_LT(n, 1000);
    }
    ASSERT_ERR(r, MP_ENOMEM);
    ASSERT_EQ(mp_queue_qsize(q), n);
    /* Reading one makes room again. */
    void *out = NULL;
    ASSERT_EQ(mp_queue_get(q, &out, MP_NO_WAIT), 4096);
    ASSERT(check(out, 4096, 3));
    mp_free(out);
    ASSERT_EQ(mp_queue_get(q, &out, MP_NO_WAIT), 4000);
    ASSERT(check(out, 4000, 3));
    mp_free(out);
    ASSERT_OK(mp_queue_put(q, buf, 4000, MP_NO_WAIT));
    free(buf);
    mp_queue_destroy(q);
}

/* Child: gets one message of a->count bytes and checks it. */
static int
child_get_big(void *arg)
{
    qarg_t *a = arg;
    void *out = NULL;
    ssize_t n = mp_queue_get(a->q, &out, MP_WAIT_FOREVER);
    int ok = n == (ssize_t)a->count && check(out, a->count, a->id);
    mp_free(out);
    return ok ? 0 : 1;
}

TEST_TIMEOUT(queue_large_messages, 60)
{
    mp_queue_t *q;
    ASSERT_OK(mp_simple_queue_create(&q));
    /* 1 MiB through a child. */
    size_t mib = 1u << 20;
    char *buf = malloc(64 * mib);
    ASSERT_NOT_NULL(buf);
    fill(buf, mib, 11);
    qarg_t a = {.q = q, .id = 11, .count = (uint32_t)mib};
    pid_t pid = mpt_fork(child_get_big, &a);
    ASSERT_OK(mp_queue_put(q, buf, mib, MP_WAIT_FOREVER));
    ASSERT_EQ(mpt_join(pid), 0);
    /* 64 MiB in this process. */
    fill(buf, 64 * mib, 12);
    ASSERT_OK(mp_queue_put(q, buf, 64 * mib, MP_WAIT_FOREVER));
    memset(buf, 0, 64 * mib);
    ASSERT_EQ(mp_queue_get_into(q, buf, 64 * mib, MP_WAIT_FOREVER), 64 * mib);
    ASSERT(check(buf, 64 * mib, 12));
    /* The memory is reused: the same size again works. */
    fill(buf, mib, 13);
    for (int i = 0; i < 8; i++) {
        ASSERT_OK(mp_queue_put(q, buf, mib, MP_WAIT_FOREVER));
        void *out = NULL;
        ASSERT_EQ(mp_queue_get(q, &out, MP_WAIT_FOREVER), mib);
        ASSERT(check(out, mib, 13));
        mp_free(out);
    }
    free(buf);
    mp_queue_destroy(q);
}

TEST(queue_unbounded_overflow_keeps_order)
{
    mp_queue_t *q;
    ASSERT_OK(mp_simple_queue_create(&q));
    const uint32_t n = 20000;
    char buf[512];
    /* No consumer: the ring fills and the rest spills over. */
    for (uint32_t i = 0; i < n; i++) {
        size_t len = 4 + (i % 7 == 0 ? 300 : i % 50);
        memcpy(buf, &i, 4);
        fill(buf + 4, len - 4, i);
        ASSERT_OK(mp_queue_put(q, buf, len, MP_NO_WAIT));
    }
    ASSERT_EQ(mp_queue_qsize(q), n);
    for (uint32_t i = 0; i < n; i++) {
        size_t len = 4 + (i % 7 == 0 ? 300 : i % 50);
        ssize_t got = mp_queue_get_into(q, buf, sizeof buf, MP_NO_WAIT);
        ASSERT_EQ(got, len);
        uint32_t v;
        memcpy(&v, buf, 4);
        ASSERT_EQ(v, i);
        ASSERT(check(buf + 4, len - 4, i));
        if (i == n / 2) {
            /* Puts while the overflow is non-empty go after it. */
            put_int(q, n);
        }
    }
    ASSERT_EQ(get_int(q), n);
    ASSERT_EQ(mp_queue_empty(q), 1);
    mp_queue_destroy(q);
}

/* Child: puts a->count integers (id << 24 | seq), then exits at once. */
static int
child_producer(void *arg)
{
    qarg_t *a = arg;
    for (uint32_t i = 0; i < a->count; i++) {
        uint32_t v = a->id << 24 | i;
        if (mp_queue_put(a->q, &v, sizeof v, MP_WAIT_FOREVER) != 0) {
            return 1;
        }
    }
    return 0;
}

TEST(queue_fifo_per_producer_and_exit_after_put)
{
    const int np = 3;
    const uint32_t count = 3000;
    long maxsizes[] = {0, 7};
    for (size_t k = 0; k < MP__ARRAY_SIZE(maxsizes); k++) {
        mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
        o.maxsize = maxsizes[k];
        mp_queue_t *q;
        ASSERT_OK(mp_queue_create(&q, &o));
        qarg_t a[3];
        pid_t pids[3];
        for (int p = 0; p < np; p++) {
            a[p] = (qarg_t){.q = q, .id = (uint32_t)p + 1, .count = count};
            pids[p] = mpt_fork(child_producer, &a[p]);
        }
        uint32_t next[4] = {0, 0, 0, 0};
        for (uint32_t i = 0; i < np * count; i++) {
            uint32_t v = get_int(q);
            uint32_t id = v >> 24;
            ASSERT(id >= 1 && id <= (uint32_t)np);
            ASSERT_EQ(v & 0xffffff, next[id]);
            next[id]++;
        }
        for (int p = 0; p < np; p++) {
            ASSERT_EQ(mpt_join(pids[p]), 0);
        }
        ASSERT_EQ(mp_queue_qsize(q), 0);
        mp_queue_destroy(q);
    }
}

/* Child: puts one message, then a blocking put into a full queue. */
static int
child_put_blocking(void *arg)
{
    qarg_t *a = arg;
    mpt_signal(&a->back, 1);
    uint32_t v = 42;
    return mp_queue_put(a->q, &v, sizeof v, MP_WAIT_FOREVER) == 0 ? 0 : 1;
}

/* Child: a blocking get, reported through the exit code. */
static int
child_get_blocking(void *arg)
{
    qarg_t *a = arg;
    mpt_signal(&a->back, 1);
    uint32_t v = 0;
    if (mp_queue_get_into(a->q, &v, sizeof v, MP_WAIT_FOREVER) != 4) {
        return 1;
    }
    return v == 77 ? 0 : 2;
}

TEST(queue_blocking_put_and_get_are_woken)
{
    mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
    o.maxsize = 1;
    mp_queue_t *q;
    ASSERT_OK(mp_queue_create(&q, &o));
    qarg_t a = {.q = q};
    mpt_pipe_open(&a.back);
    /* A getter waiting on an empty queue gets the next put. */
    pid_t pid = mpt_fork(child_get_blocking, &a);
    ASSERT_EQ(mpt_wait_signal(&a.back, NULL), 0);
    put_int(q, 77);
    ASSERT_EQ(mpt_join(pid), 0);
    /* A putter waiting on a full queue gets in after a get. */
    put_int(q, 1);
    pid = mpt_fork(child_put_blocking, &a);
    ASSERT_EQ(mpt_wait_signal(&a.back, NULL), 0);
    ASSERT_EQ(get_int(q), 1);
    ASSERT_EQ(get_int(q), 42);
    ASSERT_EQ(mpt_join(pid), 0);
    mpt_pipe_close(&a.back);
    mp_queue_destroy(q);
}

/* --- close and join_thread ---------------------------------------------- */

TEST(queue_close_and_join_thread)
{
    mp_queue_t *q, *other;
    ASSERT_OK(mp_simple_queue_create(&q));
    ASSERT_OK(mp_queue_attach(&other, mp_queue_name(q)));
    put_int(q, 5);
    ASSERT_ERR(mp_queue_join_thread(q), MP_EBUSY);
    ASSERT_OK(mp_queue_cancel_join_thread(q));
    ASSERT_OK(mp_queue_close(q));
    ASSERT_OK(mp_queue_close(q)); /* idempotent */
    ASSERT_OK(mp_queue_join_thread(q));
    void *out = NULL;
    char buf[8];
    ASSERT_ERR(mp_queue_put(q, "x", 1, MP_NO_WAIT), MP_ECLOSED);
    ASSERT_ERR(mp_queue_get(q, &out, MP_NO_WAIT), MP_ECLOSED);
    ASSERT_ERR(mp_queue_get_into(q, buf, 8, MP_WAIT_FOREVER), MP_ECLOSED);
    /* Other handles are not affected. */
    ASSERT_EQ(get_int(other), 5);
    put_int(other, 6);
    ASSERT_EQ(mp_queue_qsize(q), 1);
    ASSERT_EQ(get_int(other), 6);
    mp_queue_destroy(other);
    mp_queue_destroy(q);
}

/* --- JoinableQueue ------------------------------------------------------ */

/* Child: gets a->count messages, calling task_done after each. */
static int
child_worker(void *arg)
{
    qarg_t *a = arg;
    for (uint32_t i = 0; i < a->count; i++) {
        uint32_t v;
        if (mp_queue_get_into(a->q, &v, sizeof v, MP_WAIT_FOREVER) != 4 ||
            mp_queue_task_done(a->q) != 0) {
            return 1;
        }
    }
    return 0;
}

TEST(queue_joinable_task_done_and_join)
{
    mp_queue_t *q;
    ASSERT_OK(mp_joinable_queue_create(&q, 0));
    ASSERT_OK(mp_queue_join(q, MP_NO_WAIT)); /* nothing unfinished */
    ASSERT_ERR(mp_queue_task_done(q), MP_EOVERRELEASE);
    put_int(q, 1);
    put_int(q, 2);
    ASSERT_ERR(mp_queue_join(q, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_ERR(mp_queue_join(q, 10), MP_ETIMEDOUT);
    ASSERT_ERR(mp_queue_join(q, -4), MP_EINVAL);
    ASSERT_EQ(get_int(q), 1);
    ASSERT_OK(mp_queue_task_done(q));
    ASSERT_ERR(mp_queue_join(q, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_EQ(get_int(q), 2);
    ASSERT_OK(mp_queue_task_done(q));
    ASSERT_OK(mp_queue_join(q, MP_NO_WAIT));
    ASSERT_ERR(mp_queue_task_done(q), MP_EOVERRELEASE);
    /* A failed put counts no task. */
    mp_queue_t *b;
    ASSERT_OK(mp_joinable_queue_create(&b, 1));
    put_int(b, 1);
    uint32_t v = 2;
    ASSERT_ERR(mp_queue_put_nowait(b, &v, sizeof v), MP_EFULL);
    ASSERT_EQ(get_int(b), 1);
    ASSERT_OK(mp_queue_task_done(b));
    ASSERT_OK(mp_queue_join(b, MP_NO_WAIT));
    mp_queue_destroy(b);

    /* join waits for workers in other processes. */
    qarg_t a = {.q = q, .count = 200};
    pid_t pid = mpt_fork(child_worker, &a);
    for (uint32_t i = 0; i < a.count; i++) {
        put_int(q, i);
    }
    ASSERT_OK(mp_queue_join(q, MP_WAIT_FOREVER));
    ASSERT_EQ(mp_queue_qsize(q), 0);
    ASSERT_EQ(mpt_join(pid), 0);
    mp_queue_destroy(q);
}

/* --- attach by name ----------------------------------------------------- */

/* Reads a length-prefixed queue name from fd and attaches it. */
static int
attach_from_pipe(int fd, mp_queue_t **q)
{
    char name[300];
    uint32_t len = 0;
    mpt_read_all(fd, &len, sizeof len);
    if (len >= sizeof name) {
        return MP_EINVAL;
    }
    mpt_read_all(fd, name, len);
    name[len] = '\0';
    return mp_queue_attach(q, name);
}

/* Writes q's name, length-prefixed, to fd. */
static void
send_name(int fd, mp_queue_t *q)
{
    const char *name = mp_queue_name(q);
    uint32_t len = (uint32_t)strlen(name);
    mpt_write_all(fd, &len, sizeof len);
    mpt_write_all(fd, name, len);
}

/* Child, started before the queues exist: reads their names from a pipe,
 * attaches, echoes a->count requests doubled as replies, and exits right
 * after its last put. */
static int
child_attach_echo(void *arg)
{
    qarg_t *a = arg;
    mp_queue_t *req, *rep;
    if (attach_from_pipe(a->pipe.rd, &req) != 0 ||
        attach_from_pipe(a->pipe.rd, &rep) != 0) {
        return 2;
    }
    for (uint32_t i = 0; i < a->count; i++) {
        uint32_t v = get_int(req);
        v *= 2;
        if (mp_queue_put(rep, &v, sizeof v, MP_WAIT_FOREVER) != 0) {
            return 3;
        }
    }
    mp_queue_destroy(req);
    mp_queue_destroy(rep);
    return 0;
}

TEST(queue_attach_from_running_process)
{
    qarg_t a = {.count = 100};
    mpt_pipe_open(&a.pipe);
    pid_t pid = mpt_fork(child_attach_echo, &a);
    mp_queue_t *req, *rep;
    ASSERT_OK(mp_simple_queue_create(&req));
    ASSERT_OK(mp_simple_queue_create(&rep));
    send_name(a.pipe.wr, req);
    send_name(a.pipe.wr, rep);
    for (uint32_t i = 0; i < a.count; i++) {
        put_int(req, i + 1);
        if (i % 2 == 0) {
            ASSERT_EQ(get_int(rep), 2 * (i / 2 + 1));
        }
    }
    for (uint32_t i = a.count / 2; i < a.count; i++) {
        ASSERT_EQ(get_int(rep), 2 * (i + 1));
    }
    ASSERT_EQ(mpt_join(pid), 0);
    ASSERT_EQ(mp_queue_qsize(req), 0);
    ASSERT_EQ(mp_queue_qsize(rep), 0);
    mpt_pipe_close(&a.pipe);
    mp_queue_destroy(req);
    mp_queue_destroy(rep);
}

TEST(queue_attach_same_process_and_bad_names)
{
    mp_queue_t *q, *q2;
    ASSERT_OK(mp_simple_queue_create(&q));
    ASSERT_OK(mp_queue_attach(&q2, mp_queue_name(q)));
    char slash[300];
    snprintf(slash, sizeof slash, "/%s", mp_queue_name(q));
    mp_queue_t *q3;
    ASSERT_OK(mp_queue_attach(&q3, slash));
    put_int(q2, 9);
    ASSERT_EQ(get_int(q3), 9);
    mp_queue_destroy(q3);
    mp_queue_destroy(q2); /* only unmaps */
    put_int(q, 10);
    ASSERT_EQ(get_int(q), 10);

    char name[64];
    snprintf(name, sizeof name, "mp-%d-no-such-queue", (int)getpid());
    mp_queue_t *bad = NULL;
    ASSERT_ERR(mp_queue_attach(&bad, name), MP_ENOENT);
    ASSERT_NULL(bad);
    ASSERT_ERR(mp_queue_attach(&bad, ""), MP_EINVAL);
    ASSERT_ERR(mp_queue_attach(&bad, "a/b"), MP_EINVAL);
    /* A shared-memory block that is not a queue. */
    mp_shm_t *shm;
    ASSERT_OK(mp_shm_create(&shm, NULL, 65536, 0));
    ASSERT_ERR(mp_queue_attach(&bad, mp_shm_name(shm)), MP_EINVAL);
    mp_shm_t *small;
    ASSERT_OK(mp_shm_create(&small, NULL, 16, 0));
    ASSERT_ERR(mp_queue_attach(&bad, mp_shm_name(small)), MP_EINVAL);
    ASSERT_OK(mp_shm_unlink(small));
    mp_shm_destroy(small);
    ASSERT_OK(mp_shm_unlink(shm));
    mp_shm_destroy(shm);
    /* After the creator destroys it, new attaches fail. */
    char keep[300];
    snprintf(keep, sizeof keep, "%s", mp_queue_name(q));
    mp_queue_destroy(q);
    ASSERT_ERR(mp_queue_attach(&bad, keep), MP_ENOENT);
}

/* Child: destroys its inherited handle (must not remove the queue). */
static int
child_destroy(void *arg)
{
    qarg_t *a = arg;
    uint32_t v = 3;
    int r = mp_queue_put(a->q, &v, sizeof v, MP_NO_WAIT);
    mp_queue_destroy(a->q);
    return r == 0 ? 0 : 1;
}

TEST(queue_destroy_in_child_keeps_queue)
{
    mp_queue_t *q;
    ASSERT_OK(mp_simple_queue_create(&q));
    qarg_t a = {.q = q};
    ASSERT_EQ(mpt_join(mpt_fork(child_destroy, &a)), 0);
    mp_queue_t *q2;
    ASSERT_OK(mp_queue_attach(&q2, mp_queue_name(q)));
    ASSERT_EQ(get_int(q2), 3);
    mp_queue_destroy(q2);
    mp_queue_destroy(q);
}

TEST(queue_bounded_beyond_ring_and_small_ring)
{
    /* A maxsize larger than any ring: bounded by counting. */
    mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
    o.maxsize = MP__QUEUE_MAX_RING_CELLS + 10;
    mp_queue_t *q;
    ASSERT_OK(mp_queue_create(&q, &o));
    for (uint32_t i = 0; i < (uint32_t)o.maxsize; i++) {
        ASSERT_OK(mp_queue_put_nowait(q, &i, sizeof i));
    }
    ASSERT_EQ(mp_queue_full(q), 1);
    uint32_t x = 0;
    ASSERT_ERR(mp_queue_put_nowait(q, &x, sizeof x), MP_EFULL);
    ASSERT_ERR(mp_queue_put(q, &x, sizeof x, 5), MP_EFULL);
    for (uint32_t i = 0; i < (uint32_t)o.maxsize; i++) {
        ASSERT_EQ(get_int(q), i);
    }
    ASSERT_EQ(mp_queue_empty(q), 1);
    mp_queue_destroy(q);

    /* An unbounded queue with a tiny ring, several producers: FIFO per
     * producer holds through ring and overflow. */
    mp__queue_test_ring_cells = 2;
    ASSERT_OK(mp_simple_queue_create(&q));
    mp__queue_test_ring_cells = 0;
    qarg_t a[2];
    pid_t pids[2];
    for (int p = 0; p < 2; p++) {
        a[p] = (qarg_t){.q = q, .id = (uint32_t)p + 1, .count = 3000};
        pids[p] = mpt_fork(child_producer, &a[p]);
    }
    uint32_t next[3] = {0, 0, 0};
    for (uint32_t i = 0; i < 6000; i++) {
        uint32_t v = get_int(q);
        uint32_t id = v >> 24;
        ASSERT(id == 1 || id == 2);
        ASSERT_EQ(v & 0xffffff, next[id]);
        next[id]++;
    }
    for (int p = 0; p < 2; p++) {
        ASSERT_EQ(mpt_join(pids[p]), 0);
    }
    mp_queue_destroy(q);
}
