/* SPDX-License-Identifier: MIT */
/* test-function-names.c - how a process target and a pool task are named
 * for a process that was not forked from their creator (issue 17): static
 * task functions work under every start method, and the public registry
 * (mp_register_function) lets the receiving side run its own function of
 * that name (here a spawned child registers the names with other
 * functions, as a different worker program would); a name the worker
 * lacks fails each item. A forged task reference: test-pool-transport.c. */
#include "runner.h"

#include "shm/fnref.h"

#include <stdio.h>
#include <string.h>

static const mp_start_method_t methods[] = {MP_START_FORK, MP_START_FORKSERVER,
                                            MP_START_SPAWN};
#define NMETHODS (sizeof methods / sizeof methods[0])

/*---- task functions ----------------------------------------------------*/

/* Multiplies the one int64_t item at in by k into out (-1: wrong size). */
static int
scale(const void *in, size_t len, mp_pool_out_t *out, int64_t k)
{
    int64_t x;
    if (len != sizeof x) {
        return -1;
    }
    memcpy(&x, in, sizeof x);
    x *= k;
    return mp_pool_out_write(out, &x, sizeof x);
}

/* A static task (not in the symbol table's exports): 2x an int64_t. */
static int
task_double(const void *in, size_t len, mp_pool_out_t *out)
{
    return scale(in, len, out, 2);
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
    return scale(in, len, out, 10);
}

static int
task_theirs(const void *in, size_t len, mp_pool_out_t *out)
{
    return scale(in, len, out, 100);
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

/* Registers the two names for this program's functions (theirs: the
 * ones a spawned child or the forkserver has). */
static void
register_names(bool theirs)
{
    MP__ASSERT(mp_register_function("test.names.task",
                                    theirs ? (mp_function_t)task_theirs
                                           : (mp_function_t)task_mine) == 0);
    MP__ASSERT(mp_register_function("test.names.target",
                                    theirs ? (mp_function_t)target_theirs
                                           : (mp_function_t)target_mine) == 0);
}

/* Before main, so before mp_main runs a spawned child's target; only in
 * the processes the library execs, so that a test process allocates
 * nothing before its test runs (mp_set_allocator must come first). */
__attribute__((constructor)) static void
register_theirs(void)
{
    if (started_by_the_library()) {
        register_names(true);
    }
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
    register_names(false);
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
    mp_function_t b = (mp_function_t)task_theirs; /* not registered here */
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
