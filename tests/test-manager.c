/* SPDX-License-Identifier: MIT */
/* test-manager.c - the public manager API end to end: lifecycle and its
 * errors, every proxy call of every kind (normal path, documented errors,
 * bad input, wrong kind), children that inherit proxies, processes that
 * were running before the manager (tokens, pool workers), remote clients
 * over loopback TCP, user-registered types, and faults: the server or a
 * client killed with SIGKILL. */
#include "runner.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- helpers ------------------------------------------------------------ */

/* Starts a manager listening at address (NULL: AF_UNIX default). */
static mp_manager_t *
start_at(const char *address)
{
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.address = address;
    mp_manager_t *m = mpt_manager_start(&o);
    ASSERT_GT(mp_manager_pid(m), 0);
    ASSERT_NOT_NULL(mp_manager_address(m));
    return m;
}

static mp_manager_t *
start(void)
{
    return start_at(NULL);
}

/* A handle connected to m's server from this process. */
static mp_manager_t *
connect_to(mp_manager_t *m, bool remote_only)
{
    mp_manager_t *c = NULL;
    ASSERT_OK(mpt_manager_connect(m, remote_only, &c));
    return c;
}

/* Stores the C string s under the C string key k. */
static void
dset(mp_proxy_t *d, const char *k, const char *s)
{
    ASSERT_OK(mp_dict_set(d, k, strlen(k), s, strlen(s)));
}

/* 1 if d holds exactly the C string s under key k. */
static int
dhas(mp_proxy_t *d, const char *k, const char *s)
{
    void *v = NULL;
    ssize_t n = mp_dict_get(d, k, strlen(k), &v);
    int ok = n == (ssize_t)strlen(s) && memcmp(v, s, (size_t)n) == 0;
    mp_free(v);
    return ok;
}

/* 1 if l[index] is exactly the C string s. */
static int
lhas(mp_proxy_t *l, ssize_t index, const char *s)
{
    void *v = NULL;
    ssize_t n = mp_list_get(l, index, &v);
    int ok = n == (ssize_t)strlen(s) && memcmp(v, s, (size_t)n) == 0;
    mp_free(v);
    return ok;
}

static void
lappend(mp_proxy_t *l, const char *s)
{
    ASSERT_OK(mp_list_append(l, s, strlen(s)));
}

/* --- lifecycle ---------------------------------------------------------- */

TEST(manager_lifecycle_and_errors)
{
    mp_manager_t *m = NULL;
    mp_proxy_t *p = NULL;
    ASSERT_ERR(mp_manager_create(NULL, NULL), MP_EINVAL);
    mp_manager_opts_t bad = MP_MANAGER_OPTS_INIT;
    bad.authkey_len = 4;
    ASSERT_ERR(mp_manager_create(&m, &bad), MP_EINVAL);
    mp_manager_opts_t badt = MP_MANAGER_OPTS_INIT;
    badt.shutdown_timeout = -5;
    ASSERT_ERR(mp_manager_create(&m, &badt), MP_EINVAL);

    ASSERT_OK(mp_manager_create(&m, NULL));
    ASSERT_NULL(mp_manager_address(m));
    ASSERT_EQ(mp_manager_pid(m), 0);
    ASSERT_ERR(mp_manager_shutdown(m), MP_ENOTSTARTED);
    ASSERT_ERR(mp_manager_dict(m, &p), MP_ENOTSTARTED);
    ASSERT_ERR(mp_manager_connect(m, 30000), MP_EINVAL); /* no address */
    ASSERT_OK(mp_manager_start(m));
    ASSERT_ERR(mp_manager_start(m), MP_ESTARTED);
    ASSERT_ERR(mp_manager_connect(m, 30000), MP_ESTARTED);
    const void *key;
    size_t keylen;
    ASSERT_ERR(mp_manager_authkey(NULL, &key, &keylen), MP_EINVAL);
    ASSERT_OK(mp_manager_authkey(m, &key, &keylen));
    ASSERT_GT(keylen, 0);

    ASSERT_ERR(mp_manager_dict(NULL, &p), MP_EINVAL);
    ASSERT_ERR(mp_manager_dict(m, NULL), MP_EINVAL);
    ASSERT_ERR(mp_manager_barrier(m, 0, &p), MP_EINVAL);
    ASSERT_ERR(mp_manager_value(m, (mp_type_t)'z', NULL, &p), MP_EINVAL);
    ASSERT_ERR(mp_manager_array(m, MP_TYPE_INT, 0, NULL, &p), MP_EINVAL);
    ASSERT_ERR(mp_manager_array(m, MP_TYPE_INT, SIZE_MAX, NULL, &p), MP_EINVAL);
    ASSERT_ERR(mp_manager_create_object(m, "nosuchtype", NULL, 0, &p),
               MP_ENOENT);

    ASSERT_OK(mp_manager_dict(m, &p));
    pid_t server = mp_manager_pid(m);
    ASSERT_OK(mp_manager_shutdown(m));
    ASSERT_OK(mp_manager_shutdown(m)); /* idempotent */
    mpt_wait_pid_exit(server);
    ASSERT_ERR(mp_dict_len(p), MP_ENOSERVER);
    ASSERT_ERR(mp_manager_start(m), MP_ECLOSED);
    mp_proxy_destroy(p);
    mp_manager_destroy(m);
    mp_manager_destroy(NULL);
    mp_proxy_destroy(NULL);
}

static int
child_shutdown_refused(void *arg)
{
    mp_manager_t *m = arg;
    /* Only the starting process may shut the server down. */
    ASSERT_ERR(mp_manager_shutdown(m), MP_ENOTOWNER);
    return 0;
}

TEST(manager_shutdown_only_by_starter)
{
    mp_manager_t *m = start();
    ASSERT_EQ(mpt_join(mpt_fork(child_shutdown_refused, m)), 0);
    mp_manager_t *c = connect_to(m, false);
    ASSERT_ERR(mp_manager_shutdown(c), MP_ENOTOWNER);
    ASSERT_EQ(mp_manager_pid(c), 0);
    mp_manager_destroy(c);
    mp_manager_destroy(m);
}

/* --- dict, namespace ---------------------------------------------------- */

TEST(manager_dict_calls)
{
    mp_manager_t *m = start();
    mp_proxy_t *d = NULL, *l = NULL;
    ASSERT_OK(mp_manager_dict(m, &d));
    ASSERT_OK(mp_manager_list(m, &l));
    ASSERT_EQ(mp_proxy_kind(d), MP_PROXY_DICT);
    ASSERT_ERR(mp_proxy_kind(NULL), MP_EINVAL);

    ASSERT_EQ(mp_dict_len(d), 0);
    dset(d, "a", "1");
    dset(d, "b", "");
    dset(d, "a", "one"); /* replaces */
    ASSERT_EQ(mp_dict_len(d), 2);
    ASSERT(dhas(d, "a", "one"));
    ASSERT(dhas(d, "b", ""));
    ASSERT_EQ(mpt_dict_contains(d, "a", 1), 1);
    ASSERT_EQ(mpt_dict_contains(d, "zz", 2), 0);
    ASSERT_ERR(mp_dict_contains(d, "a", 1, NULL), MP_EINVAL);
    bool found;
    ASSERT_ERR(mp_dict_contains(NULL, "a", 1, &found), MP_EINVAL);
    void *v = NULL;
    ASSERT_ERR(mp_dict_get(d, "zz", 2, &v), MP_ENOENT);
    ASSERT_ERR(mp_dict_delete(d, "zz", 2), MP_ENOENT);
    ASSERT_ERR(mp_dict_pop(d, "zz", 2, &v), MP_ENOENT);
    ASSERT_EQ(mp_dict_pop(d, "a", 1, &v), 3);
    ASSERT_MEM_EQ(v, "one", 3);
    mp_free(v);
    ASSERT_EQ(mpt_dict_contains(d, "a", 1), 0);
    ASSERT_OK(mp_dict_delete(d, "b", 1));
    ASSERT_EQ(mp_dict_len(d), 0);

    /* Binary keys and values, a large value, many keys (table growth). */
    unsigned char key[3] = {0, 255, 0};
    size_t big = 3u << 20;
    unsigned char *val = malloc(big);
    for (size_t i = 0; i < big; i++) {
        val[i] = (unsigned char)(i * 7);
    }
    ASSERT_OK(mp_dict_set(d, key, sizeof(key), val, big));
    ASSERT_EQ(mp_dict_get(d, key, sizeof(key), &v), (ssize_t)big);
    ASSERT_MEM_EQ(v, val, big);
    mp_free(v);
    free(val);
    for (int i = 0; i < 2000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        ASSERT_OK(mp_dict_set(d, k, strlen(k), &i, sizeof(i)));
    }
    ASSERT_EQ(mp_dict_len(d), 2001);
    for (int i = 0; i < 2000; i += 97) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        ASSERT_EQ(mp_dict_get(d, k, strlen(k), &v), (ssize_t)sizeof(int));
        ASSERT_EQ(*(int *)v, i);
        mp_free(v);
    }

    /* Snapshots. */
    ASSERT_OK(mp_dict_clear(d));
    dset(d, "x", "10");
    dset(d, "y", "20");
    mp_buf_t *bufs = NULL;
    size_t n = 0;
    ASSERT_OK(mp_dict_keys(d, &bufs, &n));
    ASSERT_EQ(n, 2);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(bufs[i].len, 1);
        seen |= ((char *)bufs[i].data)[0] == 'x' ? 1 : 2;
    }
    ASSERT_EQ(seen, 3);
    mp_free(bufs);
    ASSERT_OK(mp_dict_items(d, &bufs, &n));
    ASSERT_EQ(n, 4);
    for (size_t i = 0; i < n; i += 2) {
        const char *want = ((char *)bufs[i].data)[0] == 'x' ? "10" : "20";
        ASSERT_EQ(bufs[i + 1].len, 2);
        ASSERT_MEM_EQ(bufs[i + 1].data, want, 2);
    }
    mp_free(bufs);
    ASSERT_OK(mp_dict_clear(d));
    ASSERT_OK(mp_dict_keys(d, &bufs, &n));
    ASSERT_EQ(n, 0);
    mp_free(bufs);

    /* Bad input and the wrong kind. */
    ASSERT_ERR(mp_dict_set(NULL, "a", 1, "b", 1), MP_EINVAL);
    ASSERT_ERR(mp_dict_set(d, NULL, 1, "b", 1), MP_EINVAL);
    ASSERT_ERR(mp_dict_set(d, "a", 0, "b", 1), MP_EINVAL);
    ASSERT_ERR(mp_dict_set(d, "a", 1, NULL, 1), MP_EINVAL);
    ASSERT_ERR(mp_dict_get(d, "a", 1, NULL), MP_EINVAL);
    ASSERT_ERR(mp_dict_keys(d, NULL, &n), MP_EINVAL);
    ASSERT_ERR(mp_dict_len(NULL), MP_EINVAL);
    ASSERT_ERR(mp_dict_set(l, "a", 1, "b", 1), MP_EKIND);
    ASSERT_ERR(mp_dict_len(l), MP_EKIND);
    ASSERT_ERR(mp_list_len(d), MP_EKIND);
    ASSERT_ERR(mp_proxy_acquire(d, MP_NO_WAIT), MP_EKIND);
    ASSERT_ERR(mp_namespace_set(d, "a", "b", 1), MP_EKIND);

    mp_proxy_destroy(d);
    mp_proxy_destroy(l);
    mp_manager_destroy(m);
}

TEST(manager_namespace_calls)
{
    mp_manager_t *m = start();
    mp_proxy_t *ns = NULL;
    ASSERT_OK(mp_manager_namespace(m, &ns));
    ASSERT_EQ(mp_proxy_kind(ns), MP_PROXY_NAMESPACE);
    int x = 42;
    ASSERT_OK(mp_namespace_set(ns, "x", &x, sizeof(x)));
    ASSERT_OK(mp_namespace_set(ns, "name", "proc", 4));
    void *v = NULL;
    ASSERT_EQ(mp_namespace_get(ns, "x", &v), (ssize_t)sizeof(int));
    ASSERT_EQ(*(int *)v, 42);
    mp_free(v);
    ASSERT_ERR(mp_namespace_get(ns, "missing", &v), MP_ENOENT);
    mp_buf_t *names = NULL;
    size_t n = 0;
    ASSERT_OK(mp_namespace_names(ns, &names, &n));
    ASSERT_EQ(n, 2);
    mp_free(names);
    ASSERT_OK(mp_namespace_delete(ns, "x"));
    ASSERT_ERR(mp_namespace_delete(ns, "x"), MP_ENOENT);
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    ASSERT_ERR(mp_namespace_set(ns, longname, "v", 1), MP_EINVAL);
    ASSERT_ERR(mp_namespace_set(ns, "", "v", 1), MP_EINVAL);
    ASSERT_ERR(mp_namespace_set(ns, NULL, "v", 1), MP_EINVAL);
    ASSERT_ERR(mp_namespace_get(NULL, "x", &v), MP_EINVAL);
    /* A Namespace is also readable through the dict calls. */
    ASSERT(dhas(ns, "name", "proc"));
    mp_proxy_destroy(ns);
    mp_manager_destroy(m);
}

/* --- list --------------------------------------------------------------- */

TEST(manager_list_calls)
{
    mp_manager_t *m = start();
    mp_proxy_t *l = NULL;
    ASSERT_OK(mp_manager_list(m, &l));
    void *v = NULL;
    ASSERT_EQ(mp_list_len(l), 0);
    ASSERT_ERR(mp_list_get(l, 0, &v), MP_ERANGE);
    ASSERT_ERR(mp_list_pop(l, -1, &v), MP_ERANGE);
    lappend(l, "a");
    lappend(l, "b");
    mp_buf_t more[2] = {{"c", 1}, {"", 0}};
    ASSERT_OK(mp_list_extend(l, more, 2));
    ASSERT_OK(mp_list_extend(l, NULL, 0));
    ASSERT_EQ(mp_list_len(l), 4); /* a b c "" */
    ASSERT(lhas(l, 0, "a"));
    ASSERT(lhas(l, -1, ""));
    ASSERT(lhas(l, -4, "a"));
    ASSERT_ERR(mp_list_get(l, 4, &v), MP_ERANGE);
    ASSERT_ERR(mp_list_get(l, -5, &v), MP_ERANGE);
    ASSERT_OK(mp_list_set(l, -1, "d", 1)); /* a b c d */
    ASSERT_ERR(mp_list_set(l, 9, "x", 1), MP_ERANGE);
    ASSERT_OK(mp_list_insert(l, 0, "S", 1));    /* S a b c d */
    ASSERT_OK(mp_list_insert(l, 100, "E", 1));  /* clamps: ... d E */
    ASSERT_OK(mp_list_insert(l, -100, "F", 1)); /* F S a b c d E */
    ASSERT_OK(mp_list_insert(l, -1, "G", 1));   /* F S a b c d G E */
    ASSERT_EQ(mp_list_len(l), 8);
    ASSERT(lhas(l, 0, "F"));
    ASSERT(lhas(l, 6, "G"));
    ASSERT(lhas(l, 7, "E"));
    ASSERT_EQ(mp_list_index(l, "c", 1), 4);
    ASSERT_ERR(mp_list_index(l, "zz", 2), MP_ENOENT);
    ASSERT_EQ(mp_list_pop(l, -1, &v), 1); /* E */
    ASSERT_MEM_EQ(v, "E", 1);
    mp_free(v);
    ASSERT_OK(mp_list_delete(l, 0)); /* S a b c d G */
    ASSERT_ERR(mp_list_delete(l, 6), MP_ERANGE);

    /* Slices clamp as lst[start:stop] does. */
    mp_buf_t *s = NULL;
    size_t n = 0;
    ASSERT_OK(mp_list_slice(l, 1, 3, &s, &n));
    ASSERT_EQ(n, 2);
    ASSERT_MEM_EQ(s[0].data, "a", 1);
    ASSERT_MEM_EQ(s[1].data, "b", 1);
    mp_free(s);
    ASSERT_OK(mp_list_slice(l, -2, 100, &s, &n));
    ASSERT_EQ(n, 2);
    ASSERT_MEM_EQ(s[0].data, "d", 1);
    mp_free(s);
    ASSERT_OK(mp_list_slice(l, 4, 2, &s, &n));
    ASSERT_EQ(n, 0);
    mp_free(s);
    ASSERT_OK(mp_list_slice(l, -100, -4, &s, &n));
    ASSERT_EQ(n, 2);
    mp_free(s);

    ASSERT_OK(mp_list_reverse(l)); /* G d c b a S */
    ASSERT(lhas(l, 0, "G"));
    ASSERT(lhas(l, 5, "S"));
    ASSERT_OK(mp_list_clear(l));
    ASSERT_EQ(mp_list_len(l), 0);

    ASSERT_ERR(mp_list_append(l, NULL, 1), MP_EINVAL);
    ASSERT_ERR(mp_list_get(l, 0, NULL), MP_EINVAL);
    ASSERT_ERR(mp_list_slice(l, 0, 1, NULL, &n), MP_EINVAL);
    mp_buf_t badbuf = {NULL, 3};
    ASSERT_ERR(mp_list_extend(l, &badbuf, 1), MP_EINVAL);
    ASSERT_ERR(mp_list_extend(l, NULL, 2), MP_EINVAL);
    ASSERT_ERR(mp_list_len(NULL), MP_EINVAL);
    mp_proxy_destroy(l);
    mp_manager_destroy(m);
}

/* Seed 003's manager part: a child changes a dict and a list, the parent
 * sees the changes. */
typedef struct dl_arg {
    mp_proxy_t *d, *l;
} dl_arg_t;

static int
child_change_dict_list(void *arg)
{
    dl_arg_t *a = arg;
    dset(a->d, "1", "1");
    dset(a->d, "2", "2");
    dset(a->d, "0.25", "None");
    ASSERT_OK(mp_list_reverse(a->l));
    return 0;
}

TEST(manager_child_changes_are_seen)
{
    mp_manager_t *m = start();
    dl_arg_t a;
    ASSERT_OK(mp_manager_dict(m, &a.d));
    ASSERT_OK(mp_manager_list(m, &a.l));
    for (int i = 0; i < 10; i++) {
        char s[4];
        snprintf(s, sizeof(s), "%d", i);
        lappend(a.l, s);
    }
    ASSERT_EQ(mpt_join(mpt_fork(child_change_dict_list, &a)), 0);
    ASSERT_EQ(mp_dict_len(a.d), 3);
    ASSERT(dhas(a.d, "0.25", "None"));
    ASSERT(lhas(a.l, 0, "9"));
    ASSERT(lhas(a.l, 9, "0"));
    mp_proxy_destroy(a.d);
    mp_proxy_destroy(a.l);
    mp_manager_destroy(m);
}

/* Four children each add 500 distinct keys and 500 list items; nothing
 * is lost. */
typedef struct hammer_arg {
    mp_proxy_t *d, *l;
    int id;
} hammer_arg_t;

static int
child_hammer(void *arg)
{
    hammer_arg_t *a = arg;
    for (int i = 0; i < 500; i++) {
        char k[32];
        snprintf(k, sizeof(k), "c%d-%d", a->id, i);
        ASSERT_OK(mp_dict_set(a->d, k, strlen(k), &i, sizeof(i)));
        ASSERT_OK(mp_list_append(a->l, k, strlen(k)));
    }
    return 0;
}

TEST_TIMEOUT(manager_concurrent_children, 60)
{
    mp_manager_t *m = start();
    hammer_arg_t a[4];
    pid_t pids[4];
    mp_proxy_t *d, *l;
    ASSERT_OK(mp_manager_dict(m, &d));
    ASSERT_OK(mp_manager_list(m, &l));
    for (int i = 0; i < 4; i++) {
        a[i] = (hammer_arg_t){d, l, i};
        pids[i] = mpt_fork(child_hammer, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(mpt_join(pids[i]), 0);
    }
    ASSERT_EQ(mp_dict_len(d), 2000);
    ASSERT_EQ(mp_list_len(l), 2000);
    mp_proxy_destroy(d);
    mp_proxy_destroy(l);
    mp_manager_destroy(m);
}

/* --- queues ------------------------------------------------------------- */

typedef struct q_arg {
    mp_proxy_t *q;
    int count;
} q_arg_t;

static int
child_producer(void *arg)
{
    q_arg_t *a = arg;
    for (int i = 0; i < a->count; i++) {
        ASSERT_OK(mp_proxy_put(a->q, &i, sizeof(i), MP_WAIT_FOREVER));
    }
    return 0;
}

TEST(manager_queue_calls)
{
    mp_manager_t *m = start();
    mp_proxy_t *q = NULL, *bq = NULL, *jq = NULL;
    ASSERT_OK(mp_manager_queue(m, 0, &q));
    ASSERT_OK(mp_manager_queue(m, 2, &bq));
    ASSERT_OK(mp_manager_joinable_queue(m, 0, &jq));
    ASSERT_EQ(mp_proxy_kind(jq), MP_PROXY_JOINABLE_QUEUE);
    void *v = NULL;
    ASSERT_ERR(mp_proxy_get(q, &v, MP_NO_WAIT), MP_EEMPTY);
    ASSERT_ERR(mp_proxy_get(q, &v, 20), MP_EEMPTY); /* as mp_queue_get */

    q_arg_t a = {q, 1000};
    pid_t pid = mpt_fork(child_producer, &a);
    for (int i = 0; i < 1000; i++) {
        ASSERT_EQ(mp_proxy_get(q, &v, MP_WAIT_FOREVER), (ssize_t)sizeof(int));
        ASSERT_EQ(*(int *)v, i);
        mp_free(v);
    }
    ASSERT_EQ(mpt_join(pid), 0);
    ASSERT_EQ(mp_proxy_qsize(q), 0);

    /* Bounded: full, then room again. */
    ASSERT_OK(mp_proxy_put(bq, "1", 1, MP_NO_WAIT));
    ASSERT_OK(mp_proxy_put(bq, "2", 1, MP_NO_WAIT));
    ASSERT_ERR(mp_proxy_put(bq, "3", 1, MP_NO_WAIT), MP_EFULL);
    ASSERT_ERR(mp_proxy_put(bq, "3", 1, 20), MP_EFULL);
    ASSERT_EQ(mp_proxy_qsize(bq), 2);
    ASSERT_EQ(mp_proxy_get(bq, &v, MP_NO_WAIT), 1);
    ASSERT_MEM_EQ(v, "1", 1);
    mp_free(v);
    ASSERT_OK(mp_proxy_put(bq, "", 0, MP_NO_WAIT)); /* empty message */
    ASSERT_EQ(mp_proxy_get(bq, &v, MP_NO_WAIT), 1);
    mp_free(v);
    ASSERT_EQ(mp_proxy_get(bq, &v, MP_NO_WAIT), 0);
    mp_free(v);

    /* Joinable. */
    ASSERT_ERR(mp_proxy_task_done(q), MP_EKIND);
    ASSERT_ERR(mp_proxy_join(q, 0), MP_EKIND);
    ASSERT_ERR(mp_proxy_task_done(jq), MP_EOVERRELEASE);
    ASSERT_OK(mp_proxy_join(jq, MP_NO_WAIT));
    ASSERT_OK(mp_proxy_put(jq, "t", 1, MP_WAIT_FOREVER));
    ASSERT_ERR(mp_proxy_join(jq, 20), MP_ETIMEDOUT);
    ASSERT_EQ(mp_proxy_get(jq, &v, MP_WAIT_FOREVER), 1);
    mp_free(v);
    ASSERT_OK(mp_proxy_task_done(jq));
    ASSERT_OK(mp_proxy_join(jq, MP_WAIT_FOREVER));

    /* Bad input. */
    ASSERT_ERR(mp_proxy_put(q, NULL, 1, 0), MP_EINVAL);
    ASSERT_ERR(mp_proxy_put(q, "x", 1, -7), MP_EINVAL);
    ASSERT_ERR(mp_proxy_get(q, NULL, 0), MP_EINVAL);
    ASSERT_ERR(mp_proxy_get(q, &v, -7), MP_EINVAL);
    ASSERT_ERR(mp_proxy_put(NULL, "x", 1, 0), MP_EINVAL);
    ASSERT_ERR(mp_proxy_qsize(NULL), MP_EINVAL);
    mp_proxy_destroy(q);
    mp_proxy_destroy(bq);
    mp_proxy_destroy(jq);
    mp_manager_destroy(m);
}

/* --- locks, semaphores, events, conditions, barriers -------------------- */

TEST(manager_lock_and_semaphore_calls)
{
    mp_manager_t *m = start();
    mp_proxy_t *lk, *rl, *sem, *bsem;
    ASSERT_OK(mp_manager_lock(m, &lk));
    ASSERT_OK(mp_manager_rlock(m, &rl));
    ASSERT_OK(mp_manager_semaphore(m, 2, &sem));
    ASSERT_OK(mp_manager_bounded_semaphore(m, 1, &bsem));

    ASSERT_ERR(mp_proxy_release(lk), MP_EOVERRELEASE);
    ASSERT_OK(mp_proxy_acquire(lk, MP_WAIT_FOREVER));
    ASSERT_ERR(mp_proxy_acquire(lk, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_ERR(mp_proxy_acquire(lk, 20), MP_ETIMEDOUT);
    ASSERT_OK(mp_proxy_release(lk));

    ASSERT_ERR(mp_proxy_release(rl), MP_ENOTOWNER);
    ASSERT_OK(mp_proxy_acquire(rl, MP_NO_WAIT));
    ASSERT_OK(mp_proxy_acquire(rl, MP_NO_WAIT)); /* re-entrant */
    ASSERT_OK(mp_proxy_release(rl));
    ASSERT_OK(mp_proxy_release(rl));
    ASSERT_ERR(mp_proxy_release(rl), MP_ENOTOWNER);

    ASSERT_OK(mp_proxy_acquire(sem, MP_NO_WAIT));
    ASSERT_OK(mp_proxy_acquire(sem, MP_NO_WAIT));
    ASSERT_ERR(mp_proxy_acquire(sem, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_OK(mp_proxy_release(sem));
    ASSERT_OK(mp_proxy_release(sem));
    ASSERT_OK(mp_proxy_release(sem)); /* unbounded: fine */

    ASSERT_ERR(mp_proxy_release(bsem), MP_EOVERRELEASE);
    ASSERT_OK(mp_proxy_acquire(bsem, MP_NO_WAIT));
    ASSERT_OK(mp_proxy_release(bsem));

    ASSERT_ERR(mp_proxy_acquire(lk, -3), MP_EINVAL);
    ASSERT_ERR(mp_proxy_acquire(NULL, 0), MP_EINVAL);
    ASSERT_ERR(mp_proxy_set(lk), MP_EKIND);
    mp_proxy_destroy(lk);
    mp_proxy_destroy(rl);
    mp_proxy_destroy(sem);
    mp_proxy_destroy(bsem);
    mp_manager_destroy(m);
}

typedef struct sync_arg {
    mp_proxy_t *a, *b;
    mpt_pipe_t ready;
} sync_arg_t;

static int
child_set_event(void *arg)
{
    sync_arg_t *s = arg;
    ASSERT_OK(mp_proxy_wait(s->b, MP_WAIT_FOREVER)); /* "go" */
    ASSERT_OK(mp_proxy_set(s->a));
    return 0;
}

TEST(manager_event_calls)
{
    mp_manager_t *m = start();
    sync_arg_t s;
    ASSERT_OK(mp_manager_event(m, &s.a));
    ASSERT_OK(mp_manager_event(m, &s.b));
    ASSERT_EQ(mpt_proxy_is_set(s.a), 0);
    ASSERT_ERR(mp_proxy_is_set(s.a, NULL), MP_EINVAL);
    bool answer;
    ASSERT_ERR(mp_proxy_is_set(NULL, &answer), MP_EINVAL);
    ASSERT_ERR(mp_proxy_broken(s.a, &answer), MP_EKIND);
    ASSERT_ERR(mp_proxy_wait(s.a, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_ERR(mp_proxy_wait(s.a, 20), MP_ETIMEDOUT);
    pid_t pid = mpt_fork(child_set_event, &s);
    ASSERT_OK(mp_proxy_set(s.b));
    ASSERT_OK(mp_proxy_wait(s.a, MP_WAIT_FOREVER));
    ASSERT_EQ(mpt_join(pid), 0);
    ASSERT_EQ(mpt_proxy_is_set(s.a), 1);
    ASSERT_OK(mp_proxy_clear(s.a));
    ASSERT_EQ(mpt_proxy_is_set(s.a), 0);
    ASSERT_ERR(mp_proxy_wait(s.a, -9), MP_EINVAL);
    ASSERT_ERR(mp_proxy_notify(s.a, 1), MP_EKIND);
    mp_proxy_destroy(s.a);
    mp_proxy_destroy(s.b);
    mp_manager_destroy(m);
}

static int
child_condition_notify(void *arg)
{
    sync_arg_t *s = arg; /* a: condition, b: list used as the state */
    ASSERT_OK(mp_proxy_acquire(s->a, MP_WAIT_FOREVER));
    lappend(s->b, "ready");
    ASSERT_OK(mp_proxy_notify_all(s->a));
    ASSERT_OK(mp_proxy_release(s->a));
    return 0;
}

TEST(manager_condition_calls)
{
    mp_manager_t *m = start();
    mp_proxy_t *lk;
    sync_arg_t s;
    ASSERT_OK(mp_manager_lock(m, &lk));
    ASSERT_OK(mp_manager_condition(m, NULL, &s.a));
    ASSERT_OK(mp_manager_list(m, &s.b));
    ASSERT_ERR(mp_proxy_wait(s.a, MP_NO_WAIT), MP_ENOTOWNER);
    ASSERT_ERR(mp_proxy_notify(s.a, 1), MP_ENOTOWNER);

    ASSERT_OK(mp_proxy_acquire(s.a, MP_WAIT_FOREVER));
    ASSERT_ERR(mp_proxy_wait(s.a, 20), MP_ETIMEDOUT);
    pid_t pid = mpt_fork(child_condition_notify, &s);
    while (mp_list_len(s.b) == 0) {
        int r = mp_proxy_wait(s.a, MP_WAIT_FOREVER);
        ASSERT(r == 0);
    }
    ASSERT_OK(mp_proxy_release(s.a));
    ASSERT_EQ(mpt_join(pid), 0);

    /* A condition over a given Lock; not over an Event. */
    mp_proxy_t *c2, *ev;
    ASSERT_OK(mp_manager_condition(m, lk, &c2));
    ASSERT_OK(mp_proxy_acquire(c2, MP_NO_WAIT));
    ASSERT_ERR(mp_proxy_acquire(lk, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_OK(mp_proxy_notify(c2, 3));
    ASSERT_OK(mp_proxy_release(c2));
    ASSERT_OK(mp_proxy_acquire(lk, MP_NO_WAIT));
    ASSERT_OK(mp_proxy_release(lk));
    ASSERT_OK(mp_manager_event(m, &ev));
    mp_proxy_t *bad = NULL;
    ASSERT_ERR(mp_manager_condition(m, ev, &bad), MP_EKIND);
    mp_proxy_destroy(c2);
    mp_proxy_destroy(ev);
    mp_proxy_destroy(lk);
    mp_proxy_destroy(s.a);
    mp_proxy_destroy(s.b);
    mp_manager_destroy(m);
}

static int
child_barrier_wait(void *arg)
{
    sync_arg_t *s = arg;
    int r = mp_proxy_wait(s->a, MP_WAIT_FOREVER);
    return r >= 0 && r < 2 ? 0 : 1;
}

TEST(manager_barrier_calls)
{
    mp_manager_t *m = start();
    sync_arg_t s;
    ASSERT_OK(mp_manager_barrier(m, 2, &s.a));
    ASSERT_EQ(mp_proxy_parties(s.a), 2);
    ASSERT_EQ(mp_proxy_n_waiting(s.a), 0);
    ASSERT_EQ(mpt_proxy_broken(s.a), 0);
    ASSERT_ERR(mp_proxy_broken(s.a, NULL), MP_EINVAL);
    bool answer;
    ASSERT_ERR(mp_proxy_is_set(s.a, &answer), MP_EKIND);
    for (int round = 0; round < 3; round++) {
        pid_t pid = mpt_fork(child_barrier_wait, &s);
        int r = mp_proxy_wait(s.a, MP_WAIT_FOREVER);
        ASSERT(r >= 0 && r < 2);
        ASSERT_EQ(mpt_join(pid), 0);
    }
    /* Alone, a wait times out and breaks the barrier. */
    ASSERT_ERR(mp_proxy_wait(s.a, 20), MP_ETIMEDOUT);
    ASSERT_EQ(mpt_proxy_broken(s.a), 1);
    ASSERT_ERR(mp_proxy_wait(s.a, MP_NO_WAIT), MP_EBROKEN);
    ASSERT_OK(mp_proxy_reset(s.a));
    ASSERT_EQ(mpt_proxy_broken(s.a), 0);
    ASSERT_OK(mp_proxy_abort(s.a));
    ASSERT_ERR(mp_proxy_wait(s.a, MP_NO_WAIT), MP_EBROKEN);
    ASSERT_ERR(mp_proxy_parties(NULL), MP_EINVAL);
    mp_proxy_destroy(s.a);
    mp_manager_destroy(m);
}

/* --- Value, Array --------------------------------------------------------- */

TEST(manager_value_array_calls)
{
    mp_manager_t *m = start();
    mp_proxy_t *v, *v0, *a;
    double d = 3.5, out = 0;
    ASSERT_OK(mp_manager_value(m, MP_TYPE_DOUBLE, &d, &v));
    ASSERT_OK(mp_manager_value(m, MP_TYPE_INT, NULL, &v0));
    ASSERT_OK(mp_proxy_value_get(v, &out));
    ASSERT(out == 3.5);
    d = -1.25;
    ASSERT_OK(mp_proxy_value_set(v, &d));
    ASSERT_OK(mp_proxy_value_get(v, &out));
    ASSERT(out == -1.25);
    int iv = 7;
    ASSERT_OK(mp_proxy_value_get(v0, &iv));
    ASSERT_EQ(iv, 0);

    int init[5] = {1, 2, 3, 4, 5};
    ASSERT_OK(mp_manager_array(m, MP_TYPE_INT, 5, init, &a));
    ASSERT_EQ(mp_proxy_array_len(a), 5);
    for (size_t i = 0; i < 5; i++) {
        int x = -(int)i;
        ASSERT_OK(mp_proxy_array_set(a, i, &x));
    }
    for (size_t i = 0; i < 5; i++) {
        int x = 99;
        ASSERT_OK(mp_proxy_array_get(a, i, &x));
        ASSERT_EQ(x, -(int)i);
    }
    ASSERT_ERR(mp_proxy_array_get(a, 5, &iv), MP_ERANGE);
    ASSERT_ERR(mp_proxy_array_set(a, 5, &iv), MP_ERANGE);
    ASSERT_ERR(mp_proxy_array_get(a, 0, NULL), MP_EINVAL);
    ASSERT_ERR(mp_proxy_value_set(v, NULL), MP_EINVAL);
    ASSERT_ERR(mp_proxy_value_get(a, &iv), MP_EKIND);
    ASSERT_ERR(mp_proxy_array_len(v), MP_EKIND);
    mp_proxy_destroy(v);
    mp_proxy_destroy(v0);
    mp_proxy_destroy(a);
    mp_manager_destroy(m);
}

/* --- tokens, running processes, pool workers ------------------------------ */

/* A process started before the manager existed: it reads the address,
 * the key and a token from a pipe, connects and appends to the list. */
typedef struct late_arg {
    mpt_pipe_t to_child;
    bool remote_only;
} late_arg_t;

static int
child_late_joiner(void *arg)
{
    late_arg_t *a = arg;
    char addr[256], token[MP_PROXY_TOKEN_MAX];
    unsigned char key[64];
    uint32_t addrlen, keylen;
    mpt_read_all(a->to_child.rd, &addrlen, sizeof(addrlen));
    mpt_read_all(a->to_child.rd, addr, addrlen);
    mpt_read_all(a->to_child.rd, &keylen, sizeof(keylen));
    mpt_read_all(a->to_child.rd, key, keylen);
    mpt_read_all(a->to_child.rd, token, sizeof(token));
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.address = addr;
    o.authkey = key;
    o.authkey_len = keylen;
    o.remote_only = a->remote_only;
    mp_manager_t *c;
    mp_proxy_t *l;
    ASSERT_OK(mp_manager_create(&c, &o));
    ASSERT_OK(mp_manager_connect(c, 30000));
    ASSERT_OK(mp_proxy_from_token(&l, c, token));
    ASSERT_EQ(mp_proxy_kind(l), MP_PROXY_LIST);
    lappend(l, "from a process that was already running");
    ASSERT(lhas(l, 0, "first"));
    mp_proxy_destroy(l);
    mp_manager_destroy(c);
    return 0;
}

static void
run_late_joiner(bool remote_only, const char *address)
{
    late_arg_t a = {.remote_only = remote_only};
    mpt_pipe_open(&a.to_child);
    pid_t pid = mpt_fork(child_late_joiner, &a);
    mp_manager_t *m = start_at(address);
    mp_proxy_t *l;
    ASSERT_OK(mp_manager_list(m, &l));
    lappend(l, "first");
    char addr[256] = {0}, token[MP_PROXY_TOKEN_MAX] = {0};
    snprintf(addr, sizeof(addr), "%s", mp_manager_address(m));
    uint32_t addrlen = (uint32_t)strlen(addr) + 1;
    const void *key;
    size_t keylen;
    ASSERT_OK(mp_manager_authkey(m, &key, &keylen));
    uint32_t kl = (uint32_t)keylen;
    ASSERT_OK(mp_proxy_token(l, token, sizeof(token)));
    mpt_write_all(a.to_child.wr, &addrlen, sizeof(addrlen));
    mpt_write_all(a.to_child.wr, addr, addrlen);
    mpt_write_all(a.to_child.wr, &kl, sizeof(kl));
    mpt_write_all(a.to_child.wr, key, kl);
    mpt_write_all(a.to_child.wr, token, sizeof(token));
    ASSERT_EQ(mpt_join(pid), 0);
    ASSERT_EQ(mp_list_len(l), 2);
    mpt_pipe_close(&a.to_child);
    mp_proxy_destroy(l);
    mp_manager_destroy(m);
}

TEST(manager_token_to_running_process)
{
    run_late_joiner(false, NULL);
}

TEST(manager_remote_client_over_tcp)
{
    run_late_joiner(true, "127.0.0.1:0");
}

TEST(manager_token_errors)
{
    mp_manager_t *m = start();
    mp_proxy_t *d, *p = NULL;
    char token[MP_PROXY_TOKEN_MAX];
    ASSERT_OK(mp_manager_dict(m, &d));
    ASSERT_ERR(mp_proxy_token(d, token, 8), MP_ERANGE);
    ASSERT_ERR(mp_proxy_token(NULL, token, sizeof(token)), MP_EINVAL);
    ASSERT_ERR(mp_proxy_token(d, NULL, sizeof(token)), MP_EINVAL);
    ASSERT_OK(mp_proxy_token(d, token, sizeof(token)));
    ASSERT_ERR(mp_proxy_from_token(&p, m, "garbage"), MP_EINVAL);
    ASSERT_ERR(mp_proxy_from_token(&p, m, "mp-proxy:1:1:0:x:1"), MP_EINVAL);
    ASSERT_ERR(mp_proxy_from_token(&p, m, "mp-proxy:1:99:0:1:1"), MP_EINVAL);
    ASSERT_ERR(mp_proxy_from_token(&p, m, "mp-proxy:1:1:0:99999999:1"),
               MP_EINVAL);
    ASSERT_ERR(mp_proxy_from_token(NULL, m, token), MP_EINVAL);
    ASSERT_ERR(mp_proxy_from_token(&p, NULL, token), MP_EINVAL);

    /* A second proxy keeps the object alive; once every proxy is gone the
     * token names nothing. */
    ASSERT_OK(mp_proxy_from_token(&p, m, token));
    dset(p, "k", "v");
    mp_proxy_destroy(d);
    ASSERT(dhas(p, "k", "v"));
    mp_proxy_destroy(p);
    ASSERT_ERR(mp_proxy_from_token(&p, m, token), MP_ECLOSED);
    mp_manager_destroy(m);
}

/* Pool workers started before the manager write through a token. */
static int
task_append_via_token(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)out;
    /* in: the manager handle pointer (inherited memory: the pool forked
     * before it existed, so only the address and key are usable) ... */
    const char *s = in;
    const char *addr = s;
    const char *token = addr + strlen(addr) + 1;
    const unsigned char *key =
        (const unsigned char *)(token + strlen(token) + 1);
    size_t keylen = len - (size_t)((const char *)key - s);
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.address = addr;
    o.authkey = key;
    o.authkey_len = keylen;
    mp_manager_t *c;
    mp_proxy_t *l;
    if (mp_manager_create(&c, &o) != 0 || mp_manager_connect(c, 30000) != 0) {
        return 1;
    }
    int r = mp_proxy_from_token(&l, c, token);
    if (r == 0) {
        r = mp_list_append(l, "w", 1);
        mp_proxy_destroy(l);
    }
    mp_manager_destroy(c);
    return r == 0 ? 0 : 1;
}

TEST_TIMEOUT(manager_used_by_running_pool_workers, 60)
{
    mp_pool_t *pool = mpt_pool_make(2, 0);
    mp_manager_t *m = start();
    mp_proxy_t *l;
    ASSERT_OK(mp_manager_list(m, &l));
    char token[MP_PROXY_TOKEN_MAX];
    ASSERT_OK(mp_proxy_token(l, token, sizeof(token)));
    const void *key;
    size_t keylen;
    ASSERT_OK(mp_manager_authkey(m, &key, &keylen));
    const char *addr = mp_manager_address(m);
    size_t len = strlen(addr) + 1 + strlen(token) + 1 + keylen;
    char *msg = malloc(len);
    memcpy(msg, addr, strlen(addr) + 1);
    memcpy(msg + strlen(addr) + 1, token, strlen(token) + 1);
    memcpy(msg + strlen(addr) + 1 + strlen(token) + 1, key, keylen);
    mp_result_t *res[6];
    for (int i = 0; i < 6; i++) {
        ASSERT_OK(mp_pool_apply_async(pool, task_append_via_token, msg, len,
                                      &res[i]));
    }
    for (int i = 0; i < 6; i++) {
        void *out = NULL;
        ASSERT_OK(mp_result_get(res[i], &out, MP_WAIT_FOREVER));
        mp_free(out);
        mp_result_destroy(res[i]);
    }
    free(msg);
    ASSERT_EQ(mp_list_len(l), 6);
    mp_proxy_destroy(l);
    mp_manager_destroy(m); /* first: the pool check wants no children */
    mpt_pool_finish(pool);
}

/* --- user types ------------------------------------------------------------
 */

/* A counter: create takes an optional int64 start; methods "add" (int64
 * in) and "get" (int64 out); anything else is MP_ENOTSUP. */
static int
counter_create(void **obj, const void *args, size_t len, void *arg)
{
    (void)arg;
    int64_t *c = malloc(sizeof(*c));
    if (c == NULL) {
        return MP_ENOMEM;
    }
    *c = 0;
    if (len == sizeof(int64_t)) {
        memcpy(c, args, sizeof(*c));
    } else if (len != 0) {
        free(c);
        return MP_EINVAL;
    }
    *obj = c;
    return 0;
}

static int
counter_call(void *obj, const char *method, const void *in, size_t in_len,
             void **out, size_t *out_len, void *arg)
{
    (void)arg;
    int64_t *c = obj;
    if (strcmp(method, "add") == 0 && in_len == sizeof(int64_t)) {
        int64_t d;
        memcpy(&d, in, sizeof(d));
        *c += d;
        return 0;
    }
    if (strcmp(method, "get") == 0) {
        int64_t *r = malloc(sizeof(*r));
        if (r == NULL) {
            return MP_ENOMEM;
        }
        *r = *c;
        *out = r;
        *out_len = sizeof(*r);
        return 0;
    }
    if (strcmp(method, "fail") == 0) {
        return 7; /* not an mp error: the caller sees MP_EREMOTE */
    }
    return MP_ENOTSUP;
}

static void
counter_destroy(void *obj, void *arg)
{
    (void)arg;
    free(obj);
}

static const mp_manager_type_t counter_type = {counter_create, counter_call,
                                               counter_destroy, NULL};

static int
child_counter_add(void *arg)
{
    mp_proxy_t *c = arg;
    int64_t one = 1;
    void *out = NULL;
    size_t outlen = 0;
    for (int i = 0; i < 100; i++) {
        ASSERT_OK(mp_proxy_call(c, "add", &one, sizeof(one), &out, &outlen));
    }
    return 0;
}

TEST(manager_user_type)
{
    /* A user type's callbacks are pointers: only a forked server has them
     * (others refuse the type, test-mgr-methods.c), so the server is
     * pinned to fork under every default method. */
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.start_method = MP_START_FORK;
    mp_manager_t *m = NULL;
    ASSERT_OK(mp_manager_create(&m, &o));
    ASSERT_ERR(mp_manager_register(NULL, "Counter", &counter_type), MP_EINVAL);
    ASSERT_ERR(mp_manager_register(m, "", &counter_type), MP_EINVAL);
    char longname[65];
    memset(longname, 't', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0'; /* 64 bytes: one too many */
    ASSERT_ERR(mp_manager_register(m, longname, &counter_type), MP_EINVAL);
    ASSERT_ERR(mp_manager_register(m, "Counter", NULL), MP_EINVAL);
    mp_manager_type_t nocall = counter_type;
    nocall.call = NULL;
    ASSERT_ERR(mp_manager_register(m, "Counter", &nocall), MP_EINVAL);
    ASSERT_OK(mp_manager_register(m, "Counter", &counter_type));
    ASSERT_ERR(mp_manager_register(m, "Counter", &counter_type), MP_EEXIST);
    ASSERT_OK(mp_manager_start(m));
    ASSERT_ERR(mp_manager_register(m, "Other", &counter_type), MP_ESTARTED);

    mp_proxy_t *c, *c2 = NULL;
    int64_t start = 10;
    ASSERT_OK(
        mp_manager_create_object(m, "Counter", &start, sizeof(start), &c));
    ASSERT_EQ(mp_proxy_kind(c), MP_PROXY_USER);
    ASSERT_ERR(mp_manager_create_object(m, "Counter", "abc", 3, &c2),
               MP_EINVAL);
    pid_t a = mpt_fork(child_counter_add, c);
    pid_t b = mpt_fork(child_counter_add, c);
    ASSERT_EQ(mpt_join(a), 0);
    ASSERT_EQ(mpt_join(b), 0);
    void *out = NULL;
    size_t outlen = 0;
    ASSERT_OK(mp_proxy_call(c, "get", NULL, 0, &out, &outlen));
    ASSERT_EQ(outlen, sizeof(int64_t));
    ASSERT_EQ(*(int64_t *)out, 210);
    mp_free(out);
    ASSERT_ERR(mp_proxy_call(c, "nosuch", NULL, 0, &out, &outlen), MP_ENOTSUP);
    ASSERT_ERR(mp_proxy_call(c, "fail", NULL, 0, &out, &outlen), MP_EREMOTE);
    ASSERT_ERR(mp_proxy_call(c, "", NULL, 0, &out, &outlen), MP_EINVAL);
    ASSERT_ERR(mp_proxy_call(c, longname, NULL, 0, &out, &outlen), MP_EINVAL);
    ASSERT_ERR(mp_manager_create_object(m, longname, NULL, 0, &c2), MP_EINVAL);
    ASSERT_ERR(mp_proxy_call(c, "get", NULL, 0, NULL, &outlen), MP_EINVAL);
    ASSERT_ERR(mp_dict_len(c), MP_EKIND);

    /* Through a remote-only connection as well. */
    mp_manager_t *r = connect_to(m, true);
    char token[MP_PROXY_TOKEN_MAX];
    ASSERT_OK(mp_proxy_token(c, token, sizeof(token)));
    ASSERT_OK(mp_proxy_from_token(&c2, r, token));
    ASSERT_OK(mp_proxy_call(c2, "get", NULL, 0, &out, &outlen));
    ASSERT_EQ(*(int64_t *)out, 210);
    mp_free(out);
    mp_proxy_t *d;
    ASSERT_OK(mp_manager_dict(m, &d));
    ASSERT_ERR(mp_proxy_call(d, "get", NULL, 0, &out, &outlen), MP_EKIND);
    mp_proxy_destroy(d);
    mp_proxy_destroy(c2);
    mp_proxy_destroy(c);
    mp_manager_destroy(r);
    mp_manager_destroy(m);
}

/* --- faults ------------------------------------------------------------------
 */

static int
child_blocked_acquire(void *arg)
{
    sync_arg_t *s = arg;
    mpt_signal(&s->ready, 1);
    /* The parent holds the lock; the server is killed while we wait. */
    int r = mp_proxy_acquire(s->a, MP_WAIT_FOREVER);
    return r == MP_ENOSERVER ? 0 : 1;
}

TEST(manager_server_killed)
{
    mp_manager_t *m = start();
    mp_manager_t *r = connect_to(m, true);
    sync_arg_t s;
    mp_proxy_t *d, *rd;
    char token[MP_PROXY_TOKEN_MAX];
    ASSERT_OK(mp_manager_lock(m, &s.a));
    ASSERT_OK(mp_manager_dict(m, &d));
    ASSERT_OK(mp_proxy_token(d, token, sizeof(token)));
    ASSERT_OK(mp_proxy_from_token(&rd, r, token));
    dset(rd, "k", "v");
    ASSERT_OK(mp_proxy_acquire(s.a, MP_WAIT_FOREVER));
    mpt_pipe_open(&s.ready);
    pid_t pid = mpt_fork(child_blocked_acquire, &s);
    ASSERT_EQ(mpt_wait_signal(&s.ready, NULL), 0);

    pid_t server = mp_manager_pid(m);
    ASSERT_EQ(kill(server, SIGKILL), 0);
    mpt_wait_pid_exit(server);
    ASSERT_EQ(mpt_join(pid), 0);
    ASSERT_ERR(mp_dict_len(d), MP_ENOSERVER);  /* fast path */
    ASSERT_ERR(mp_dict_len(rd), MP_ENOSERVER); /* remote */
    ASSERT_ERR(mp_proxy_release(s.a), MP_ENOSERVER);
    mp_proxy_t *p = NULL;
    ASSERT_ERR(mp_manager_dict(m, &p), MP_ENOSERVER);
    mpt_pipe_close(&s.ready);
    mp_proxy_destroy(rd);
    mp_proxy_destroy(d);
    mp_proxy_destroy(s.a);
    mp_manager_destroy(r);
    ASSERT_OK(mp_manager_shutdown(m));
    mp_manager_destroy(m);
}

static int
child_hold_and_die(void *arg)
{
    sync_arg_t *s = arg; /* a: lock proxy of a connected handle (b unused) */
    ASSERT_OK(mp_proxy_acquire(s->a, MP_WAIT_FOREVER));
    mpt_signal(&s->ready, 1);
    for (;;) {
        pause(); /* killed here */
    }
}

/* The remote client holding a lock is killed: the server releases what
 * its connection held, and serves the others on. */
static int
child_remote_holder(void *arg)
{
    sync_arg_t *s = arg;
    mp_manager_t *m = (mp_manager_t *)(void *)s->b;
    mp_manager_t *c = connect_to(m, true);
    char token[MP_PROXY_TOKEN_MAX];
    mp_proxy_t *lk;
    ASSERT_OK(mp_proxy_token(s->a, token, sizeof(token)));
    ASSERT_OK(mp_proxy_from_token(&lk, c, token));
    sync_arg_t inner = {.a = lk, .ready = s->ready};
    return child_hold_and_die(&inner);
}

TEST(manager_client_killed)
{
    mp_manager_t *m = start();
    sync_arg_t s;
    ASSERT_OK(mp_manager_lock(m, &s.a));
    s.b = (mp_proxy_t *)(void *)m;
    mpt_pipe_open(&s.ready);

    /* Remote holder killed: the lock comes free. */
    pid_t pid = mpt_fork(child_remote_holder, &s);
    ASSERT_EQ(mpt_wait_signal(&s.ready, NULL), 0);
    ASSERT_ERR(mp_proxy_acquire(s.a, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(mpt_join(pid), -SIGKILL);
    ASSERT_OK(mp_proxy_acquire(s.a, MP_WAIT_FOREVER));
    ASSERT_OK(mp_proxy_release(s.a));

    /* Fast-path holder killed: the next acquire reports it. */
    pid = mpt_fork(child_hold_and_die, &s);
    ASSERT_EQ(mpt_wait_signal(&s.ready, NULL), 0);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(mpt_join(pid), -SIGKILL);
    ASSERT_ERR(mp_proxy_acquire(s.a, MP_WAIT_FOREVER), MP_EOWNERDEAD);
    ASSERT_OK(mp_proxy_release(s.a));

    /* The server still serves. */
    mp_proxy_t *d;
    ASSERT_OK(mp_manager_dict(m, &d));
    dset(d, "still", "here");
    mp_proxy_destroy(d);
    mpt_pipe_close(&s.ready);
    mp_proxy_destroy(s.a);
    mp_manager_destroy(m);
}

TEST(manager_wrong_key_refused)
{
    mp_manager_t *m = start_at("127.0.0.1:0");
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.address = mp_manager_address(m);
    o.authkey = "not the key";
    o.authkey_len = 11;
    mp_manager_t *c;
    ASSERT_OK(mp_manager_create(&c, &o));
    ASSERT_ERR(mp_manager_connect(c, 30000), MP_EAUTH);
    mp_manager_destroy(c);
    /* Nothing listens at a closed port / missing path. */
    mp_manager_opts_t none = MP_MANAGER_OPTS_INIT;
    none.address = "/nonexistent/mp-manager.sock";
    ASSERT_OK(mp_manager_create(&c, &none));
    ASSERT_ERR(mp_manager_connect(c, 30000), MP_ENOENT);
    mp_manager_destroy(c);
    mp_proxy_t *d;
    ASSERT_OK(mp_manager_dict(m, &d)); /* still serving */
    mp_proxy_destroy(d);
    mp_manager_destroy(m);
}
