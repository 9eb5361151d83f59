/* SPDX-License-Identifier: MIT */
/* test-mgr-input.c - bad input to manager proxies that once overflowed
 * (issue 21 item 13), each through the fast path (the store mapped in this
 * process) and over the socket (a remote-only client, so the server runs
 * the request): a timeout near INT64_MAX, list elements whose lengths sum
 * past SIZE_MAX, a dict key of SIZE_MAX bytes, an Array index above
 * INT64_MAX. Under the sanitizers an overflow or a read past a buffer
 * aborts the test. */
#include "runner.h"

#include <string.h>

typedef struct wait_arg {
    mp_proxy_t *ev, *q;
    mpt_pipe_t go;
} wait_arg_t;

/* Sets the event and puts one message once the parent says it is about
 * to wait. */
static int
child_wake_after_go(void *arg)
{
    wait_arg_t *w = arg;
    uint8_t b;
    ASSERT_EQ(mpt_wait_signal(&w->go, &b), 0);
    ASSERT_OK(mp_proxy_set(w->ev));
    ASSERT_OK(mp_proxy_put(w->q, "x", 1, MP_WAIT_FOREVER));
    return 0;
}

/* The manager (m) and a remote-only client of it (c): the two paths. */
static void
both_paths(mp_manager_t **m, mp_manager_t **c)
{
    *m = mpt_manager_start(NULL);
    ASSERT_OK(mpt_manager_connect(*m, true, c));
}

/* The proxy of p's object in client c. */
static mp_proxy_t *
in_client(mp_manager_t *c, const mp_proxy_t *p)
{
    char tok[MP_PROXY_TOKEN_MAX];
    mp_proxy_t *q = NULL;
    ASSERT_OK(mp_proxy_token(p, tok, sizeof tok));
    ASSERT_OK(mp_proxy_from_token(&q, c, tok));
    return q;
}

TEST(mgr_input_timeout_near_int64_max_waits)
{
    mp_manager_t *m, *c;
    both_paths(&m, &c);
    wait_arg_t w;
    ASSERT_OK(mp_manager_event(m, &w.ev));
    ASSERT_OK(mp_manager_queue(m, 0, &w.q));
    mp_proxy_t *rev = in_client(c, w.ev), *rq = in_client(c, w.q);
    const mp_duration_t huge[] = {INT64_MAX, INT64_MAX - 1,
                                  INT64_MAX / 1000000 + 1};
    for (int path = 0; path < 2; path++) {
        for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
            /* A deadline that wrapped into the past timed out at once,
             * before the child could wake the waiter; saturated, it is
             * forever, and each wait returns once the child acts. */
            mpt_pipe_open(&w.go);
            pid_t pid = mpt_fork(child_wake_after_go, &w);
            mpt_signal(&w.go, 1);
            void *out = NULL;
            ASSERT_EQ(mp_proxy_get(path == 0 ? w.q : rq, &out, huge[i]), 1);
            mp_free(out);
            ASSERT_OK(mp_proxy_wait(path == 0 ? w.ev : rev, huge[i]));
            ASSERT_EQ(mpt_join(pid), 0);
            mpt_pipe_close(&w.go);
            ASSERT_OK(mp_proxy_clear(w.ev));
        }
    }
    /* A timeout of 0 still times out at once on both paths. */
    void *out = NULL;
    ASSERT_ERR(mp_proxy_wait(w.ev, 0), MP_ETIMEDOUT);
    ASSERT_ERR(mp_proxy_wait(rev, 0), MP_ETIMEDOUT);
    ASSERT_ERR(mp_proxy_get(w.q, &out, 0), MP_EEMPTY);
    ASSERT_ERR(mp_proxy_get(rq, &out, 0), MP_EEMPTY);
    mp_proxy_destroy(rq);
    mp_proxy_destroy(rev);
    mp_proxy_destroy(w.q);
    mp_proxy_destroy(w.ev);
    mp_manager_destroy(c);
    mp_manager_destroy(m);
}

TEST(mgr_input_list_extend_length_sum_overflows)
{
    mp_manager_t *m, *c;
    both_paths(&m, &c);
    mp_proxy_t *l = NULL;
    ASSERT_OK(mp_manager_list(m, &l));
    mp_proxy_t *remote = in_client(c, l);
    /* 8 + 3 + 8 + (SIZE_MAX - 11) wraps to 7: a 7-byte buffer that the
     * packing wrote past. The sum is refused instead. */
    const mp_buf_t vals[2] = {{"abc", 3}, {"d", SIZE_MAX - 11}};
    ASSERT_ERR(mp_list_extend(l, vals, 2), MP_ENOMEM);
    ASSERT_ERR(mp_list_extend(remote, vals, 2), MP_ENOMEM);
    const mp_buf_t many[3] = {
        {"a", 1}, {"b", SIZE_MAX / 2}, {"c", SIZE_MAX / 2}};
    ASSERT_ERR(mp_list_extend(l, many, 3), MP_ENOMEM);
    ASSERT_EQ(mp_list_len(l), 0);
    /* Sane input still works. */
    ASSERT_OK(mp_list_extend(l, vals, 1));
    ASSERT_EQ(mp_list_len(remote), 1);
    mp_proxy_destroy(remote);
    mp_proxy_destroy(l);
    mp_manager_destroy(c);
    mp_manager_destroy(m);
}

TEST(mgr_input_dict_key_of_size_max)
{
    mp_manager_t *m, *c;
    both_paths(&m, &c);
    mp_proxy_t *d = NULL;
    ASSERT_OK(mp_manager_dict(m, &d));
    mp_proxy_t *remote = in_client(c, d);
    char key[2] = "k";
    /* No byte past the caller's buffer is read (the hash ran first). */
    ASSERT_ERR(mp_dict_set(d, key, SIZE_MAX, "v", 1), MP_ENOMEM);
    ASSERT_ERR(mp_dict_set(remote, key, SIZE_MAX, "v", 1), MP_ENOMEM);
    ASSERT_ERR(mp_dict_set(d, key, SIZE_MAX / 2, "v", 1), MP_ENOMEM);
    /* Lookups of a key no store can hold find nothing. */
    void *out = NULL;
    ASSERT_ERR(mp_dict_get(d, key, SIZE_MAX, &out), MP_ENOENT);
    ASSERT_EQ(mpt_dict_contains(d, key, SIZE_MAX), 0);
    ASSERT_ERR(mp_dict_delete(d, key, SIZE_MAX), MP_ENOENT);
    ASSERT_ERR(mp_dict_pop(d, key, SIZE_MAX, &out), MP_ENOENT);
    /* A value of SIZE_MAX bytes is refused too. */
    ASSERT_ERR(mp_dict_set(d, key, 1, "v", SIZE_MAX), MP_ENOMEM);
    ASSERT_EQ(mp_dict_len(d), 0);
    ASSERT_OK(mp_dict_set(d, key, 1, "v", 1));
    ASSERT_EQ(mpt_dict_contains(remote, key, 1), 1);
    mp_proxy_destroy(remote);
    mp_proxy_destroy(d);
    mp_manager_destroy(c);
    mp_manager_destroy(m);
}

TEST(mgr_input_array_index_above_int64_max_is_erange)
{
    mp_manager_t *m, *c;
    both_paths(&m, &c);
    mp_proxy_t *a = NULL;
    ASSERT_OK(mp_manager_array(m, MP_TYPE_INT, 4, NULL, &a));
    mp_proxy_t *remote = in_client(c, a);
    const size_t bad[] = {4, (size_t)INT64_MAX, (size_t)INT64_MAX + 1,
                          SIZE_MAX};
    int v = 5;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_ERR(mp_proxy_array_get(a, bad[i], &v), MP_ERANGE);
        ASSERT_ERR(mp_proxy_array_set(a, bad[i], &v), MP_ERANGE);
        ASSERT_ERR(mp_proxy_array_get(remote, bad[i], &v), MP_ERANGE);
        ASSERT_ERR(mp_proxy_array_set(remote, bad[i], &v), MP_ERANGE);
    }
    /* The argument checks that come first are unchanged. */
    ASSERT_ERR(mp_proxy_array_get(a, SIZE_MAX, NULL), MP_EINVAL);
    ASSERT_ERR(mp_proxy_array_get(NULL, SIZE_MAX, &v), MP_EINVAL);
    ASSERT_OK(mp_proxy_array_set(a, 3, &v));
    int got = 0;
    ASSERT_OK(mp_proxy_array_get(remote, 3, &got));
    ASSERT_EQ(got, 5);
    mp_proxy_destroy(remote);
    mp_proxy_destroy(a);
    mp_manager_destroy(c);
    mp_manager_destroy(m);
}

TEST(mgr_input_authkey_length_size_max)
{
    /* The key's copy is one byte longer: the sum wrapped to a 0-byte
     * allocation that the copy then overran. */
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.authkey = "k";
    o.authkey_len = SIZE_MAX;
    mp_manager_t *m = NULL;
    ASSERT_ERR(mp_manager_create(&m, &o), MP_ENOMEM);
    ASSERT_NULL(m);
    o.authkey_len = 1;
    ASSERT_OK(mp_manager_create(&m, &o));
    mp_manager_destroy(m);
}
