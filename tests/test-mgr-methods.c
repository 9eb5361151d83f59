/* SPDX-License-Identifier: MIT */
/* test-mgr-methods.c - a manager's server started by each start method
 * (opts.start_method; 0: the process-wide default): under spawn and
 * forkserver the server is a fresh exec, not a fork (the initializer sees
 * none of the starter's memory), and the manager's main cases work there
 * as under fork: objects from the starter, a forked child and a remote
 * client, SharedMemoryManager blocks freed at shutdown, the initializer and
 * its failure, a killed server, a killed starter, user types (their
 * callbacks cross as checked references). */
#include "runner.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const mp_start_method_t exec_methods[] = {MP_START_SPAWN,
                                                 MP_START_FORKSERVER};
#define N_EXEC 2

/* Set by the test before it starts a manager: a forked server sees it, an
 * exec'd one sees 0. */
static int parent_marker;

/* The block name an initializer writes to: "mp-<test pid>-<method>". */
typedef struct {
    char name[64];
} init_args_t;

/* Initializer: writes parent_marker and its pid into the block named by
 * its arguments. */
static int
init_report(const void *args, size_t len)
{
    init_args_t a;
    if (len != sizeof a) {
        return MP_EINVAL;
    }
    memcpy(&a, args, sizeof a);
    mp_shm_t *shm = NULL;
    int r = mp_shm_create(&shm, a.name, 64, MP_SHM_UNTRACKED);
    if (r != 0) {
        return r;
    }
    int32_t words[2] = {parent_marker, (int32_t)getpid()};
    memcpy(mp_shm_buf(shm), words, sizeof words);
    mp_shm_destroy(shm);
    return 0;
}

/* Starts a manager under method with the reporting initializer; checks
 * what the initializer saw: the marker only through a fork. */
static mp_manager_t *
start_reporting(mp_start_method_t method)
{
    init_args_t a = {{0}};
    snprintf(a.name, sizeof a.name, "mp-%d-init-%d", (int)getpid(),
             (int)method);
    parent_marker = 4242;
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.start_method = method;
    o.initializer = init_report;
    o.initargs = &a;
    o.initargs_len = sizeof a;
    mp_manager_t *m = mpt_manager_start(&o);
    mp_shm_t *shm = NULL;
    ASSERT_OK(mp_shm_attach(&shm, a.name));
    int32_t words[2];
    memcpy(words, mp_shm_buf(shm), sizeof words);
    ASSERT_OK(mp_shm_unlink(shm));
    mp_shm_destroy(shm);
    ASSERT_EQ(words[0], method == MP_START_FORK ? 4242 : 0);
    ASSERT_EQ(words[1], mp_manager_pid(m));
    return m;
}

/* A forked child's use of the starter's proxies. */
static int
child_uses_proxies(void *arg)
{
    mp_proxy_t **p = arg;
    if (mp_dict_set(p[0], "child", 5, "yes", 3) != 0) {
        return 1;
    }
    return mp_proxy_put(p[1], "from child", 10, MP_WAIT_FOREVER) == 0 ? 0 : 2;
}

/* The manager's main cases on a started m. */
static void
main_cases(mp_manager_t *m)
{
    mp_proxy_t *d = NULL, *q = NULL, *lock = NULL, *ev = NULL, *v = NULL;
    ASSERT_OK(mp_manager_dict(m, &d));
    ASSERT_OK(mp_manager_queue(m, 0, &q));
    ASSERT_OK(mp_manager_lock(m, &lock));
    ASSERT_OK(mp_manager_event(m, &ev));
    long long init = 5;
    ASSERT_OK(mp_manager_value(m, MP_TYPE_LLONG, &init, &v));

    ASSERT_OK(mp_dict_set(d, "k", 1, "value", 5));
    void *out = NULL;
    ASSERT_EQ(mp_dict_get(d, "k", 1, &out), 5);
    ASSERT_MEM_EQ(out, "value", 5);
    mp_free(out);
    ASSERT_OK(mp_proxy_acquire(lock, MP_WAIT_FOREVER));
    ASSERT_ERR(mp_proxy_acquire(lock, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_OK(mp_proxy_release(lock));
    ASSERT_OK(mp_proxy_set(ev));
    ASSERT_OK(mp_proxy_wait(ev, MP_WAIT_FOREVER));
    long long x = 0;
    ASSERT_OK(mp_proxy_value_get(v, &x));
    ASSERT_EQ(x, 5);

    /* a forked child */
    mp_proxy_t *pair[2] = {d, q};
    ASSERT_EQ(mpt_join(mpt_fork(child_uses_proxies, pair)), 0);
    ASSERT(mpt_dict_contains(d, "child", 5));
    ASSERT_EQ(mp_proxy_get(q, &out, MP_WAIT_FOREVER), 10);
    ASSERT_MEM_EQ(out, "from child", 10);
    mp_free(out);

    /* a client served over its socket */
    mp_manager_t *c = NULL;
    ASSERT_OK(mpt_manager_connect(m, true, &c));
    char token[MP_PROXY_TOKEN_MAX];
    ASSERT_OK(mp_proxy_token(d, token, sizeof token));
    mp_proxy_t *rd = NULL;
    ASSERT_OK(mp_proxy_from_token(&rd, c, token));
    ASSERT_EQ(mp_dict_len(rd), 2);
    ASSERT_OK(mp_dict_set(rd, "remote", 6, "", 0));
    ASSERT(mpt_dict_contains(d, "remote", 6));
    mp_proxy_destroy(rd);
    mp_manager_destroy(c);

    /* SharedMemoryManager */
    mp_shm_t *shm = NULL;
    ASSERT_OK(mp_manager_shared_memory(m, 128, &shm));
    char name[300];
    snprintf(name, sizeof name, "%s", mp_shm_name(shm));
    mp_shm_destroy(shm);

    mp_proxy_destroy(d);
    mp_proxy_destroy(q);
    mp_proxy_destroy(lock);
    mp_proxy_destroy(ev);
    mp_proxy_destroy(v);
    ASSERT_OK(mp_manager_shutdown(m));
    ASSERT_ERR(mp_shm_attach(&shm, name), MP_ENOENT);
    ASSERT_ERR(mp_manager_dict(m, &d), MP_ENOSERVER);
    mp_manager_destroy(m);
}

TEST_TIMEOUT(mgr_method_fork_main_cases, 60)
{
    main_cases(start_reporting(MP_START_FORK));
}

TEST_TIMEOUT(mgr_method_spawn_main_cases, 60)
{
    main_cases(start_reporting(MP_START_SPAWN));
}

TEST_TIMEOUT(mgr_method_forkserver_main_cases, 60)
{
    main_cases(start_reporting(MP_START_FORKSERVER));
}

/* start_method 0 takes the process-wide default. */
TEST_TIMEOUT(mgr_method_default_from_environment, 60)
{
    setenv("MULTIPROC_START_METHOD", "spawn", 1);
    ASSERT_OK(mp_set_start_method(MP_START_DEFAULT, true));
    ASSERT_EQ(mp_start_method(), MP_START_SPAWN);
    main_cases(start_reporting(MP_START_DEFAULT));
}

static int
init_fail(const void *args, size_t len)
{
    (void)args;
    (void)len;
    return MP_EACCES;
}

static int
ut_create(void **obj, const void *args, size_t len, void *arg)
{
    (void)args;
    (void)len;
    (void)arg;
    *obj = NULL;
    return 0;
}

static int
ut_call(void *obj, const char *method, const void *in, size_t in_len,
        void **out, size_t *out_len, void *arg)
{
    (void)obj;
    (void)method;
    (void)in;
    (void)in_len;
    (void)arg;
    *out = NULL;
    *out_len = 0;
    return 0;
}

static void
ut_destroy(void *obj, void *arg)
{
    (void)obj;
    (void)arg;
}

TEST_TIMEOUT(mgr_method_exec_errors, 60)
{
    for (int i = 0; i < N_EXEC; i++) {
        /* the initializer's failure crosses the exec */
        mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
        o.start_method = exec_methods[i];
        o.initializer = init_fail;
        mp_manager_t *m = NULL;
        ASSERT_OK(mp_manager_create(&m, &o));
        ASSERT_ERR(mp_manager_start(m), MP_EACCES);
        ASSERT_EQ(mp_manager_pid(m), 0);
        mp_manager_destroy(m);
        /* a user type's arg is a pointer: refused */
        mp_manager_opts_t u = MP_MANAGER_OPTS_INIT;
        u.start_method = exec_methods[i];
        ASSERT_OK(mp_manager_create(&m, &u));
        const mp_manager_type_t t = {ut_create, ut_call, ut_destroy, &u};
        ASSERT_OK(mp_manager_register(m, "thing", &t));
        ASSERT_ERR(mp_manager_start(m), MP_ENOTSUP);
        mp_manager_destroy(m);
        /* a TCP address */
        mp_manager_opts_t tcp = MP_MANAGER_OPTS_INIT;
        tcp.start_method = exec_methods[i];
        tcp.address = "127.0.0.1:0";
        m = mpt_manager_start(&tcp);
        ASSERT_EQ(strncmp(mp_manager_address(m), "127.0.0.1:", 10), 0);
        mp_proxy_t *d = NULL;
        ASSERT_OK(mp_manager_dict(m, &d));
        mp_proxy_destroy(d);
        mp_manager_destroy(m);
    }
    mp_manager_t *m = NULL;
    mp_manager_opts_t bad = MP_MANAGER_OPTS_INIT;
    bad.start_method = (mp_start_method_t)9;
    ASSERT_ERR(mp_manager_create(&m, &bad), MP_EINVAL);
}

TEST_TIMEOUT(mgr_method_exec_server_killed, 60)
{
    for (int i = 0; i < N_EXEC; i++) {
        mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
        o.start_method = exec_methods[i];
        mp_manager_t *m = mpt_manager_start(&o);
        mp_proxy_t *d = NULL;
        ASSERT_OK(mp_manager_dict(m, &d));
        ASSERT_OK(kill(mp_manager_pid(m), SIGKILL));
        mpt_wait_pid_exit(mp_manager_pid(m));
        ASSERT_ERR(mp_dict_set(d, "k", 1, "v", 1), MP_ENOSERVER);
        mp_proxy_destroy(d);
        mp_manager_destroy(m);
    }
}

typedef struct {
    mp_start_method_t method;
    mpt_pipe_t ready;
} starter_arg_t;

/* A starter that reports its server's pid and waits to be killed. */
static int
child_starts_manager(void *arg)
{
    starter_arg_t *a = arg;
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.start_method = a->method;
    mp_manager_t *m = NULL;
    if (mp_manager_create(&m, &o) != 0 || mp_manager_start(m) != 0) {
        return 1;
    }
    pid_t pid = mp_manager_pid(m);
    mpt_write_all(a->ready.wr, &pid, sizeof pid);
    for (;;) {
        pause();
    }
    return 0;
}

/* The server is a daemon of its starter under every method: it goes when
 * the starter is killed. */
TEST_TIMEOUT(mgr_method_exec_starter_killed, 60)
{
    for (int i = 0; i < N_EXEC; i++) {
        starter_arg_t a = {.method = exec_methods[i]};
        mpt_pipe_open(&a.ready);
        pid_t starter = mpt_fork(child_starts_manager, &a);
        pid_t server;
        mpt_read_all(a.ready.rd, &server, sizeof server);
        ASSERT_GT(server, 0);
        ASSERT_OK(kill(starter, SIGKILL));
        ASSERT_EQ(mpt_join(starter), -SIGKILL);
        mpt_wait_pid_exit(server);
        mpt_pipe_close(&a.ready);
    }
}

/* A counter user type for mgr_method_user_types_cross_the_exec: created
 * from an int64, "add" adds one, "get" returns it, "pid" the server's pid. */
static int
counter_create(void **obj, const void *args, size_t len, void *arg)
{
    if (arg != NULL || len != sizeof(int64_t)) {
        return MP_EINVAL;
    }
    int64_t *c = malloc(sizeof *c);
    if (c == NULL) {
        return MP_ENOMEM;
    }
    memcpy(c, args, sizeof *c);
    *obj = c;
    return 0;
}

static int
counter_call(void *obj, const char *method, const void *in, size_t in_len,
             void **out, size_t *out_len, void *arg)
{
    int64_t *c = obj;
    int64_t v = *c;
    if (arg != NULL || (in == NULL) != (in_len == 0)) {
        return MP_EINVAL;
    } else if (strcmp(method, "add") == 0) {
        ++*c;
        v = *c;
    } else if (strcmp(method, "pid") == 0) {
        v = getpid();
    } else if (strcmp(method, "get") != 0) {
        return MP_ENOTSUP;
    }
    *out = malloc(sizeof v);
    if (*out == NULL) {
        return MP_ENOMEM;
    }
    memcpy(*out, &v, sizeof v);
    *out_len = sizeof v;
    return 0;
}

static void
counter_destroy(void *obj, void *arg)
{
    (void)arg;
    free(obj);
}

/* Calls method on the counter c and returns its int64 result. */
static int64_t
counter_do(mp_proxy_t *c, const char *method)
{
    void *out = NULL;
    size_t len = 0;
    ASSERT_OK(mp_proxy_call(c, method, NULL, 0, &out, &len));
    ASSERT_EQ(len, sizeof(int64_t));
    int64_t v;
    memcpy(&v, out, sizeof v);
    mp_free(out);
    return v;
}

/* Registered by name here only: the exec'd server cannot resolve it. */
static void
counter_destroy_named(void *obj, void *arg)
{
    counter_destroy(obj, arg);
}

/* A counter type's objects live in a server started by method; a type
 * whose destroy names no code of that server is refused at start. */
static void
user_types_under(mp_start_method_t method)
{
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.start_method = method;
    mp_manager_t *m = NULL;
    ASSERT_OK(mp_manager_create(&m, &o));
    const mp_manager_type_t t = {counter_create, counter_call, counter_destroy,
                                 NULL};
    ASSERT_OK(mp_manager_register(m, "Counter", &t));
    ASSERT_OK(mp_manager_start(m));
    mp_proxy_t *c = NULL;
    int64_t start = 41;
    ASSERT_OK(mp_manager_create_object(m, "Counter", &start, sizeof start, &c));
    ASSERT_EQ(mp_proxy_kind(c), MP_PROXY_USER);
    ASSERT_EQ(counter_do(c, "add"), 42);
    ASSERT_EQ(counter_do(c, "get"), 42);
    ASSERT_EQ(counter_do(c, "pid"), mp_manager_pid(m));
    void *out = NULL;
    size_t len = 0;
    ASSERT_ERR(mp_proxy_call(c, "nosuch", NULL, 0, &out, &len), MP_ENOTSUP);
    mp_proxy_destroy(c);
    ASSERT_OK(mp_manager_shutdown(m));
    mp_manager_destroy(m);

    ASSERT_OK(mp_manager_create(&m, &o));
    const mp_manager_type_t named = {counter_create, counter_call,
                                     counter_destroy_named, NULL};
    ASSERT_OK(mp_manager_register(m, "Counter", &named));
    ASSERT_ERR(mp_manager_start(m), MP_ENOENT);
    mp_manager_destroy(m);
}

TEST_TIMEOUT(mgr_method_user_types_cross_the_exec, 60)
{
    ASSERT_OK(mp_register_function("mgr-methods-counter-destroy",
                                   (mp_function_t)counter_destroy_named));
    user_types_under(MP_START_SPAWN);
    user_types_under(MP_START_FORKSERVER);
}
