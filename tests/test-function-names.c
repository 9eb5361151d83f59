/* SPDX-License-Identifier: MIT */
/* test-function-names.c - how a process target and a pool task are named
 * for a process that was not forked from their creator (issue 17): every
 * pool task carries its function's checked reference (fnref.h), so a
 * forged build-id or offset fails the task's items with a clear error and
 * never calls anything, while the worker and the pool go on; static task
 * functions work under every start method; and the public registry
 * (mp_register_function) lets the receiving side run its own function of
 * that name (here a spawned child registers the names with other
 * functions, as a different worker program would). */
#include "runner.h"

#include "pool/remote.h"
#include "process/fnref.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mp_start_method_t methods[] = {MP_START_FORK, MP_START_FORKSERVER,
                                            MP_START_SPAWN};
#define NMETHODS (sizeof methods / sizeof methods[0])

/*---- task functions ----------------------------------------------------*/

/* A static task (not in the symbol table's exports): 2x an int64_t. */
static int
task_double(const void *in, size_t len, mp_pool_out_t *out)
{
    int64_t x;
    if (len != sizeof x) {
        return -1;
    }
    memcpy(&x, in, sizeof x);
    x *= 2;
    return mp_pool_out_write(out, &x, sizeof x);
}

/* A task that must never run: it kills its worker. */
static int
task_must_not_run(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    (void)len;
    (void)out;
    raise(SIGKILL);
    return 0;
}

/* The functions of the registered names: the creator registers
 * "test.names.task" for task_mine (10x) and "test.names.target" for
 * target_mine (exit 10); a process started by spawn or forkserver (an
 * exec of this program with --multiproc-*) registers the same names for
 * task_theirs (100x) and target_theirs (exit 20), as another program
 * would with its own code. */
static int
task_mine(const void *in, size_t len, mp_pool_out_t *out)
{
    int64_t x;
    if (len != sizeof x) {
        return -1;
    }
    memcpy(&x, in, sizeof x);
    x *= 10;
    return mp_pool_out_write(out, &x, sizeof x);
}

static int
task_theirs(const void *in, size_t len, mp_pool_out_t *out)
{
    int64_t x;
    if (len != sizeof x) {
        return -1;
    }
    memcpy(&x, in, sizeof x);
    x *= 100;
    return mp_pool_out_write(out, &x, sizeof x);
}

static int
target_mine(void *arg)
{
    (void)arg;
    return 10;
}

static int
target_theirs(void *arg)
{
    (void)arg;
    return 20;
}

/* Registered in the creator only, by the test. */
static int
task_unregistered_there(const void *in, size_t len, mp_pool_out_t *out)
{
    return task_double(in, len, out);
}

/* Whether this process is an exec the library made (spawn child or
 * forkserver): its command line carries --multiproc-spawn or
 * --multiproc-forkserver. */
static bool
started_by_the_library(void)
{
    FILE *f = fopen("/proc/self/cmdline", "r");
    if (f == NULL) {
        return false;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
        if (strncmp(buf + i, "--multiproc-", 12) == 0) {
            return true;
        }
    }
    return false;
}

/* Before main (so before mp_main runs a spawned child's target). */
__attribute__((constructor)) static void
register_names(void)
{
    bool theirs = started_by_the_library();
    MP__ASSERT(mp_register_function("test.names.task",
                                    theirs ? (mp_function_t)task_theirs
                                           : (mp_function_t)task_mine) == 0);
    MP__ASSERT(mp_register_function("test.names.target",
                                    theirs ? (mp_function_t)target_theirs
                                           : (mp_function_t)target_mine) == 0);
}

/*---- a forged task message -----------------------------------------------*/

/* Where a forwarded task ended (mp__pool_submit_raw's sink). */
typedef struct catch
{
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int err; /* fail: the error; done: 0 */
    mp__reply_hdr_t rh;
    char items[1024];
    size_t items_len;
}
catch_t;

static void
c_done(void *arg, const mp__reply_hdr_t *rh, const char *p, const char *end)
{
    catch_t *c = arg;
    pthread_mutex_lock(&c->mu);
    c->rh = *rh;
    size_t n = (size_t)(end - p);
    c->items_len = n < sizeof c->items ? n : sizeof c->items;
    memcpy(c->items, p, c->items_len);
    c->done = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void
c_fail(void *arg, int err, const char *msg, bool has_exit, int exitcode)
{
    (void)msg;
    (void)has_exit;
    (void)exitcode;
    catch_t *c = arg;
    pthread_mutex_lock(&c->mu);
    c->err = err;
    c->done = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static const mp__pool_sink_t c_sink = {.done = c_done, .fail = c_fail};

/* How a reference is forged. */
enum { FORGE_BUILD_ID, FORGE_OFFSET };

/* Builds a task message of fn over one int64_t item x whose reference is
 * forged as how says: a build-id one byte off, or an offset past the
 * object's code. Returns it (free it) and its length in *len. */
static char *
forged_task(mp_pool_fn fn, int64_t x, int how, size_t *len)
{
    void *ref;
    ssize_t ref_len = mp__fnref_encode((mp__fn_t)fn, &ref);
    MP__ASSERT(ref_len > 12);
    uint8_t *r = ref;
    if (how == FORGE_BUILD_ID) {
        r[7] ^= 0x5a; /* after "MPFN", version, kind and the id's length */
    } else {
        memset(r + ref_len - 8, 0x7f, 8); /* the u64 offset, at the end */
    }
    size_t at = mp__task_data_offset((uint32_t)ref_len);
    *len = at + sizeof x;
    char *msg = calloc(1, *len);
    MP__ASSERT(msg != NULL);
    mp__task_hdr_t th = {.kind = MP__TASK_RUN,
                         .ref_len = (uint32_t)ref_len,
                         .item_size = sizeof x,
                         .nitems = 1};
    memcpy(msg, &th, sizeof th);
    memcpy(msg + sizeof th, ref, (size_t)ref_len);
    memcpy(msg + at, &x, sizeof x);
    mp__free(ref);
    return msg;
}

/* Submits a forged task to pool and checks that its one item failed with
 * code and the worker's message, and that nothing ran (the forged
 * function would have killed the worker: the sink's fail). */
static void
check_forged_fails(mp_pool_t *pool, int how, int code)
{
    catch_t c = {.mu = PTHREAD_MUTEX_INITIALIZER};
    mp__pool_cond_init(&c.cv);
    size_t len;
    char *msg = forged_task(task_must_not_run, 7, how, &len);
    ASSERT_OK(mp__pool_submit_raw(pool, msg, len, &c_sink, &c));
    free(msg);
    pthread_mutex_lock(&c.mu);
    while (!c.done) {
        pthread_cond_wait(&c.cv, &c.mu);
    }
    pthread_mutex_unlock(&c.mu);
    pthread_cond_destroy(&c.cv);
    ASSERT_EQ(c.err, 0); /* a reply came: the worker lived */
    ASSERT_EQ(c.rh.kind, MP__REPLY_DONE);
    ASSERT_EQ(c.rh.nitems, 1);
    ASSERT_EQ(c.rh.uniform_len, MP__ITEM_VAR);
    mp__item_hdr_t ih;
    ASSERT_GE(c.items_len, sizeof ih);
    memcpy(&ih, c.items, sizeof ih);
    ASSERT_EQ(ih.rc, code);
    ASSERT((ih.pad & MP__ITEM_CODE) != 0);
    ASSERT_LE(ih.len, c.items_len - sizeof ih);
    const char *text = c.items + sizeof ih;
    ASSERT(memchr(text, '\0', ih.len) != NULL);
    ASSERT(strstr(text, "cannot be called in this worker") != NULL);
    ASSERT(strstr(text, mp_strerror(code)) != NULL);
}

/* Maps task_double over 1..n on pool and checks the results. */
static void
check_double_map(mp_pool_t *pool, size_t n)
{
    int64_t in[16], out[16];
    MP__ASSERT(n <= 16);
    for (size_t i = 0; i < n; i++) {
        in[i] = (int64_t)i + 1;
    }
    ASSERT_OK(mp_pool_map(pool, task_double, in, sizeof *in, n, 1, out,
                          sizeof *out, NULL, MP_WAIT_FOREVER));
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(out[i], 2 * in[i]);
    }
}

/* The pid of pool's only worker. */
static pid_t
worker_pid(mp_pool_t *pool)
{
    void *out = NULL;
    ASSERT_EQ(mp_pool_apply(pool, mpt_task_pid, NULL, 0, &out, MP_WAIT_FOREVER),
              (ssize_t)sizeof(pid_t));
    pid_t pid;
    memcpy(&pid, out, sizeof pid);
    mp_free(out);
    return pid;
}

TEST_TIMEOUT(function_names_forged_task_fails_and_pool_goes_on, 120)
{
    for (size_t k = 0; k < NMETHODS; k++) {
        mp_pool_t *pool = mpt_pool_make_by(1, 0, methods[k]);
        pid_t before = worker_pid(pool);
        check_forged_fails(pool, FORGE_BUILD_ID, MP_ENOENT);
        check_forged_fails(pool, FORGE_OFFSET, MP_EPROTO);
        /* The same worker, still taking tasks. */
        ASSERT_EQ(worker_pid(pool), before);
        check_double_map(pool, 8);
        mpt_pool_finish(pool);
    }
}

TEST_TIMEOUT(function_names_static_tasks_under_every_method, 120)
{
    for (size_t k = 0; k < NMETHODS; k++) {
        mp_pool_t *pool = mpt_pool_make_by(2, 0, methods[k]);
        check_double_map(pool, 12);
        int64_t x = 21;
        void *out = NULL;
        ASSERT_EQ(mp_pool_apply(pool, task_double, &x, sizeof x, &out,
                                MP_WAIT_FOREVER),
                  (ssize_t)sizeof x);
        memcpy(&x, out, sizeof x);
        mp_free(out);
        ASSERT_EQ(x, 42);
        mpt_pool_finish(pool);
    }
}

TEST_TIMEOUT(function_names_registered_name_runs_the_receivers_function, 120)
{
    for (size_t k = 0; k < NMETHODS; k++) {
        /* Fork shares this process's registry (its own functions); the
         * execs registered the names for theirs. */
        bool exec = methods[k] != MP_START_FORK;
        mp_process_opts_t po = MP_PROCESS_OPTS_INIT;
        po.start_method = methods[k];
        mp_process_t *p = NULL;
        ASSERT_OK(mp_process_create(&p, target_mine, NULL, &po));
        ASSERT_OK(mp_process_start(p));
        mpt_process_finish(p, exec ? 20 : 10);
        mp_pool_t *pool = mpt_pool_make_by(2, 0, methods[k]);
        int64_t in[4] = {1, 2, 3, 4}, out[4];
        ASSERT_OK(mp_pool_map(pool, task_mine, in, sizeof *in, 4, 1, out,
                              sizeof *out, NULL, MP_WAIT_FOREVER));
        for (int i = 0; i < 4; i++) {
            ASSERT_EQ(out[i], in[i] * (exec ? 100 : 10));
        }
        mpt_pool_finish(pool);
    }
}

TEST_TIMEOUT(function_names_unknown_name_fails_each_item, 120)
{
    ASSERT_OK(mp_register_function("test.names.creator-only",
                                   (mp_function_t)task_unregistered_there));
    for (size_t k = 1; k < NMETHODS; k++) { /* the execs */
        mp_pool_t *pool = mpt_pool_make_by(1, 0, methods[k]);
        int64_t in[3] = {1, 2, 3}, out[3];
        int status[3];
        char *errors[3];
        ASSERT_ERR(mp_pool_map_errors(pool, task_unregistered_there, in,
                                      sizeof *in, 3, 2, out, sizeof *out,
                                      status, errors, MP_WAIT_FOREVER),
                   MP_ENOENT);
        for (int i = 0; i < 3; i++) {
            ASSERT_EQ(status[i], MP_ENOENT);
            ASSERT_NOT_NULL(errors[i]);
            ASSERT(strstr(errors[i], "cannot be called in this worker") !=
                   NULL);
            mp_free(errors[i]);
        }
        /* The pool goes on with functions the worker has. */
        check_double_map(pool, 4);
        mpt_pool_finish(pool);
    }
}

TEST(function_names_register_refuses_bad_names)
{
    mp_function_t a = (mp_function_t)task_double;
    mp_function_t b = (mp_function_t)task_must_not_run;
    ASSERT_ERR(mp_register_function(NULL, a), MP_EINVAL);
    ASSERT_ERR(mp_register_function("test.names.null", NULL), MP_EINVAL);
    ASSERT_ERR(mp_register_function("", a), MP_EINVAL);
    char longest[MP_FUNCTION_NAME_MAX + 2];
    memset(longest, 'n', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    ASSERT_ERR(mp_register_function(longest, a), MP_EINVAL); /* one over */
    longest[MP_FUNCTION_NAME_MAX] = '\0';
    ASSERT_OK(mp_register_function(longest, a)); /* exactly the most */
    ASSERT_OK(mp_register_function(longest, a)); /* again: nothing new */
    /* A name is one function's, and a function has one name. */
    ASSERT_ERR(mp_register_function(longest, b), MP_EEXIST);
    ASSERT_ERR(mp_register_function("test.names.second", a), MP_EEXIST);
    /* Named, a function travels as its name. */
    void *ref;
    ssize_t n = mp__fnref_encode((mp__fn_t)a, &ref);
    ASSERT_GT(n, MP_FUNCTION_NAME_MAX);
    ASSERT(memmem(ref, (size_t)n, longest, MP_FUNCTION_NAME_MAX) != NULL);
    mp__fn_t back;
    ASSERT_OK(mp__fnref_decode(ref, (size_t)n, &back));
    ASSERT(back == (mp__fn_t)a);
    mp__free(ref);
}
