/* SPDX-License-Identifier: MIT */
/* test-pool-start-methods.c - the Pool under the forkserver and spawn start
 * methods: its workers are started by that method (and named as Python
 * names them), map, apply and imap work, the initializer gets its
 * argument as bytes (and its failure breaks the pool), maxtasksperchild
 * replaces workers, a worker killed with SIGKILL mid-task fails only its
 * task, terminate kills running tasks, and a threaded program starts
 * pools safely. The runner checks that no process, fd or /dev/shm name is
 * left. Tasks here share no memory with the test: they talk to it through
 * queues attached by name. */
#include "runner.h"

#include "shm/fnref.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const mp_start_method_t methods[] = {MP_START_FORKSERVER,
                                            MP_START_SPAWN};
#define NMETHODS 2

/* Makes a pool of n workers under method m with opts o (NULL: none). */
static mp_pool_t *
pool_with(mp_start_method_t m, int n, const mp_pool_opts_t *o)
{
    mp_pool_opts_t po = o != NULL ? *o : (mp_pool_opts_t)MP_POOL_OPTS_INIT;
    po.processes = n;
    po.start_method = m;
    mp_pool_t *pool = NULL;
    ASSERT_OK(mp_pool_create(&pool, &po));
    return pool;
}

/* A task answering the method that started its worker (an int). */
static int
task_method(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    (void)len;
    int m = (int)mp_process_start_method(mp_current_process());
    return mp_pool_out_write(out, &m, sizeof m);
}

/* A task answering its worker's name (a string with its NUL). */
static int
task_name(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    (void)len;
    const char *name = mp_process_name(mp_current_process());
    return mp_pool_out_write(out, name, strlen(name) + 1);
}

/* Runs a task without input that answers n bytes; returns them (mp_free). */
static void *
apply_bytes(mp_pool_t *pool, mp_pool_fn fn, size_t n)
{
    void *r = NULL;
    ASSERT_EQ(mp_pool_apply(pool, fn, NULL, 0, &r, MP_WAIT_FOREVER), n);
    return r;
}

/* Checks that pool's workers were started by m. */
static void
check_started_by(mp_pool_t *pool, mp_start_method_t m)
{
    int *got = apply_bytes(pool, task_method, sizeof(int));
    ASSERT_EQ(*got, m);
    mp_free(got);
}

TEST_TIMEOUT(pool_start_methods_map_apply_imap, 90)
{
    static const char *const prefix[] = {"ForkServerPoolWorker-",
                                         "SpawnPoolWorker-"};
    for (int k = 0; k < NMETHODS; k++) {
        mp_pool_t *pool = pool_with(methods[k], 2, NULL);
        check_started_by(pool, methods[k]);
        void *r = NULL;
        ASSERT_OK(mp_pool_apply(pool, task_name, NULL, 0, &r, MP_WAIT_FOREVER));
        ASSERT_EQ(strncmp(r, prefix[k], strlen(prefix[k])), 0);
        mp_free(r);

        enum { N = 300 };
        int64_t in[N], out[N];
        for (int i = 0; i < N; i++) {
            in[i] = i - 7;
        }
        ASSERT_OK(mp_pool_map(pool, mpt_task_square, in, sizeof *in, N, 0, out,
                              sizeof *out, NULL, MP_WAIT_FOREVER));
        for (int i = 0; i < N; i++) {
            ASSERT_EQ(out[i], in[i] * in[i]);
        }
        mp_imap_t *it = NULL;
        ASSERT_OK(
            mp_pool_imap(pool, mpt_task_square, in, sizeof *in, 40, 3, &it));
        for (size_t i = 0; i < 40; i++) {
            int64_t *y = NULL;
            size_t idx = 99;
            ASSERT_EQ(mp_imap_next(it, (void **)&y, &idx, MP_WAIT_FOREVER),
                      sizeof *y);
            ASSERT_EQ(idx, i);
            ASSERT_EQ(*y, in[i] * in[i]);
            mp_free(y);
        }
        ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_WAIT_FOREVER), MP_EOF);
        mp_imap_destroy(it);
        /* A failing task fails alone, with its message. */
        int64_t bad = 1;
        ASSERT_ERR(mp_pool_apply(pool, mpt_task_square, &bad, 1, NULL,
                                 MP_WAIT_FOREVER),
                   MP_EREMOTE);
        mpt_pool_finish(pool);
    }
}

/* Checks that pool is broken for why (a submission's result, or the
 * submission itself, says so), then terminates and frees it. */
static void
check_broken_and_finish(mp_pool_t *pool, const char *why)
{
    mp_result_t *res = NULL;
    int err = mp_pool_apply_async(pool, mpt_task_pid, NULL, 0, &res);
    if (err == 0) {
        ASSERT_ERR(mp_result_get(res, NULL, MP_WAIT_FOREVER), MP_EBROKEN);
        ASSERT_NOT_NULL(strstr(mp_result_error_message(res), why));
        mp_result_destroy(res);
    } else {
        ASSERT_ERR(err, MP_EBROKEN); /* broken before the submission */
    }
    ASSERT_ERR(mp_pool_apply_async(pool, mpt_task_pid, NULL, 0, &res),
               MP_EBROKEN);
    ASSERT_OK(mp_pool_terminate(pool));
    ASSERT_OK(mp_pool_join(pool, MP_WAIT_FOREVER));
    mp_pool_destroy(pool);
}

/* What the initializer stored: the bytes of its argument. */
static int64_t init_value;

static int
init_store(void *arg)
{
    memcpy(&init_value, arg, sizeof init_value);
    return 0;
}

static int
task_init_value(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    (void)len;
    return mp_pool_out_write(out, &init_value, sizeof init_value);
}

static int
init_fail(void *arg)
{
    return *(const int *)arg;
}

TEST_TIMEOUT(pool_start_methods_initializer, 90)
{
    for (int k = 0; k < NMETHODS; k++) {
        /* The argument is copied at create: the caller's bytes may change
         * (or go) afterwards, and replacements get the same copy. */
        int64_t v = 4242 + k;
        mp_pool_opts_t o = MP_POOL_OPTS_INIT;
        o.initializer = init_store;
        o.initarg = &v;
        o.initarg_size = sizeof v;
        o.maxtasksperchild = 1;
        mp_pool_t *pool = pool_with(methods[k], 2, &o);
        v = -1;
        for (int i = 0; i < 5; i++) {
            int64_t *got = apply_bytes(pool, task_init_value, sizeof *got);
            ASSERT_EQ(*got, 4242 + k);
            mp_free(got);
        }
        check_started_by(pool, methods[k]);
        mpt_pool_finish(pool);

        /* A pointer cannot reach an exec: its size is required. */
        mp_pool_t *p2 = NULL;
        mp_pool_opts_t bad = MP_POOL_OPTS_INIT;
        bad.processes = 1;
        bad.initializer = init_store;
        bad.initarg = &v;
        bad.start_method = methods[k];
        ASSERT_ERR(mp_pool_create(&p2, &bad), MP_EINVAL);

        /* A failing initializer breaks the pool with its reason. */
        int rc = 5;
        mp_pool_opts_t fo = MP_POOL_OPTS_INIT;
        fo.initializer = init_fail;
        fo.initarg = &rc;
        fo.initarg_size = sizeof rc;
        check_broken_and_finish(pool_with(methods[k], 1, &fo),
                                "initializer failed (returned 5)");
    }
}

static int
init_registered_here_only(void *arg)
{
    (void)arg;
    return 0;
}

/* An initializer the worker cannot find (here: sent by a name registered
 * only in this process) breaks the pool as a failing one does, with the
 * lookup's error as its code; no worker calls anything. */
TEST_TIMEOUT(pool_start_methods_initializer_not_found, 60)
{
    ASSERT_OK(mp__fnref_register("pool-init-registered-in-the-creator",
                                 (mp__fn_t)init_registered_here_only));
    char why[64];
    snprintf(why, sizeof why, "initializer failed (returned %d)", MP_ENOENT);
    for (int k = 0; k < NMETHODS; k++) {
        mp_pool_opts_t o = MP_POOL_OPTS_INIT;
        o.initializer = init_registered_here_only;
        check_broken_and_finish(pool_with(methods[k], 1, &o), why);
    }
}

TEST_TIMEOUT(pool_start_methods_maxtasksperchild, 90)
{
    for (int k = 0; k < NMETHODS; k++) {
        mp_pool_opts_t o = MP_POOL_OPTS_INIT;
        o.maxtasksperchild = 1;
        mp_pool_t *pool = pool_with(methods[k], 2, &o);
        enum { N = 6 };
        pid_t pids[N];
        char dummy[N] = {0};
        ASSERT_OK(mp_pool_map(pool, mpt_task_pid, dummy, 1, N, 1, pids,
                              sizeof *pids, NULL, MP_WAIT_FOREVER));
        /* Every task ran in a worker of its own. */
        for (int i = 0; i < N; i++) {
            ASSERT_GT(pids[i], 0);
            for (int j = 0; j < i; j++) {
                ASSERT_NE(pids[i], pids[j]);
            }
        }
        check_started_by(pool, methods[k]);
        mpt_pool_finish(pool);
    }
}

/* The input of task_announce_block: the names of two queues. */
typedef struct announce_in {
    char announce[128]; /* gets the worker's pid */
    char gate[128];     /* a message here lets the task return */
} announce_in_t;

/* Puts its worker's pid on the announce queue, then waits for a message
 * on the gate queue (or to be killed). */
static int
task_announce_block(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)out;
    if (len != sizeof(announce_in_t)) {
        return -1;
    }
    const announce_in_t *a = in;
    mp_queue_t *ann = NULL, *gate = NULL;
    if (mp_queue_attach(&ann, a->announce) != 0 ||
        mp_queue_attach(&gate, a->gate) != 0) {
        return -2;
    }
    pid_t pid = getpid();
    int rc = mp_queue_put(ann, &pid, sizeof pid, MP_WAIT_FOREVER);
    char b;
    if (rc == 0) {
        rc = (int)mp_queue_get_into(gate, &b, 1, MP_WAIT_FOREVER);
        rc = rc == 1 ? 0 : -3;
    }
    mp_queue_destroy(ann);
    mp_queue_destroy(gate);
    return rc;
}

/* Two queues that tasks attach by name, and their names as an input. */
typedef struct rendezvous {
    mp_queue_t *announce, *gate;
    announce_in_t in;
} rendezvous_t;

static void
rendezvous_open(rendezvous_t *rv)
{
    ASSERT_OK(mp_simple_queue_create(&rv->announce));
    ASSERT_OK(mp_simple_queue_create(&rv->gate));
    memset(&rv->in, 0, sizeof rv->in);
    snprintf(rv->in.announce, sizeof rv->in.announce, "%s",
             mp_queue_name(rv->announce));
    snprintf(rv->in.gate, sizeof rv->in.gate, "%s", mp_queue_name(rv->gate));
}

/* Waits for a task to announce itself; returns its worker's pid. */
static pid_t
rendezvous_pid(rendezvous_t *rv)
{
    pid_t pid = 0;
    ASSERT_EQ(
        mp_queue_get_into(rv->announce, &pid, sizeof pid, MP_WAIT_FOREVER),
        sizeof pid);
    return pid;
}

static void
rendezvous_close(rendezvous_t *rv)
{
    mp_queue_destroy(rv->announce);
    mp_queue_destroy(rv->gate);
}

TEST_TIMEOUT(pool_start_methods_killed_worker_fails_only_its_task, 90)
{
    for (int k = 0; k < NMETHODS; k++) {
        rendezvous_t rv;
        rendezvous_open(&rv);
        mp_pool_t *pool = pool_with(methods[k], 2, NULL);
        mp_result_t *victim = NULL, *other = NULL;
        ASSERT_OK(mp_pool_apply_async(pool, task_announce_block, &rv.in,
                                      sizeof rv.in, &victim));
        ASSERT_OK(mp_pool_apply_async(pool, task_announce_block, &rv.in,
                                      sizeof rv.in, &other));
        pid_t a = rendezvous_pid(&rv);
        pid_t b = rendezvous_pid(&rv);
        ASSERT_NE(a, b);
        /* Both run now; kill one of them mid-task. */
        ASSERT_EQ(kill(a, SIGKILL), 0);
        /* Which handle ran in a is not known: let the other task end. */
        char go = 1;
        ASSERT_OK(mp_queue_put(rv.gate, &go, 1, MP_WAIT_FOREVER));
        int ra = (int)mp_result_get(victim, NULL, MP_WAIT_FOREVER);
        int rb = (int)mp_result_get(other, NULL, MP_WAIT_FOREVER);
        mp_result_t *dead = ra != 0 ? victim : other;
        ASSERT_ERR(ra != 0 ? ra : rb, MP_EWORKER);
        ASSERT_EQ(ra != 0 ? rb : ra, 0);
        int code = 0;
        ASSERT_OK(mp_result_exitcode(dead, &code));
        ASSERT_EQ(code, -SIGKILL);
        mp_result_destroy(victim);
        mp_result_destroy(other);
        /* The pool replaced the worker and goes on. */
        int64_t in[16], out[16];
        for (int i = 0; i < 16; i++) {
            in[i] = i;
        }
        ASSERT_OK(mp_pool_map(pool, mpt_task_square, in, 8, 16, 1, out, 8, NULL,
                              MP_WAIT_FOREVER));
        ASSERT_EQ(out[15], 225);
        check_started_by(pool, methods[k]);
        mpt_pool_finish(pool);
        rendezvous_close(&rv);
    }
}

TEST_TIMEOUT(pool_start_methods_terminate, 90)
{
    for (int k = 0; k < NMETHODS; k++) {
        rendezvous_t rv;
        rendezvous_open(&rv);
        mp_pool_t *pool = pool_with(methods[k], 2, NULL);
        check_started_by(pool, methods[k]);
        mp_result_t *r[3];
        for (int i = 0; i < 3; i++) {
            ASSERT_OK(mp_pool_apply_async(pool, task_announce_block, &rv.in,
                                          sizeof rv.in, &r[i]));
        }
        (void)rendezvous_pid(&rv);
        (void)rendezvous_pid(&rv);
        /* Two tasks run, one waits: terminate kills and cancels them. */
        ASSERT_OK(mp_pool_terminate(pool));
        ASSERT_OK(mp_pool_join(pool, MP_WAIT_FOREVER));
        for (int i = 0; i < 3; i++) {
            ASSERT_ERR(mp_result_get(r[i], NULL, MP_WAIT_FOREVER),
                       MP_ECANCELED);
            mp_result_destroy(r[i]);
        }
        mp_pool_destroy(pool);
        ASSERT_EQ(mp_active_children(NULL, 0), 0);
        rendezvous_close(&rv);
    }
}

/* A task that allocates and locks, as the creator's threads do. */
static int
task_malloc_square(const void *in, size_t len, mp_pool_out_t *out)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    free(malloc(1000));
    pthread_mutex_unlock(&mu);
    return mpt_task_square(in, len, out);
}

TEST_TIMEOUT(pool_start_methods_threaded_program, 120)
{
    mpt_hammer_start();
    /* Every task in a new worker: many starts while the threads run. */
    int n = mpt_slow() ? 8 : 24;
    for (int k = 0; k < NMETHODS; k++) {
        mp_pool_opts_t o = MP_POOL_OPTS_INIT;
        o.maxtasksperchild = 1;
        mp_pool_t *pool = pool_with(methods[k], 2, &o);
        int64_t in[24], out[24];
        for (int i = 0; i < n; i++) {
            in[i] = i + 1;
        }
        ASSERT_OK(mp_pool_map(pool, task_malloc_square, in, 8, (size_t)n, 1,
                              out, 8, NULL, MP_WAIT_FOREVER));
        for (int i = 0; i < n; i++) {
            ASSERT_EQ(out[i], in[i] * in[i]);
        }
        check_started_by(pool, methods[k]);
        mpt_pool_finish(pool);
    }
    mpt_hammer_stop();
}

/* MULTIPROC_START_METHOD chooses a pool's method when neither the pool
 * nor the program does. */
TEST_TIMEOUT(pool_start_methods_default_from_environment, 60)
{
    setenv("MULTIPROC_START_METHOD", "spawn", 1);
    mp_pool_t *pool = mpt_pool_make(1, 0);
    check_started_by(pool, MP_START_SPAWN);
    mpt_pool_finish(pool);
    /* A pool's own method wins. */
    pool = pool_with(MP_START_FORK, 1, NULL);
    check_started_by(pool, MP_START_FORK);
    mpt_pool_finish(pool);
    unsetenv("MULTIPROC_START_METHOD");
}
