/* SPDX-License-Identifier: MIT */
/* shared_counter.c - four processes add 1000 each to a shared counter under
 * its lock; the total is exactly 4000.
 *
 * The example of README.md, and the pattern python-reference.md checks
 * live in Python:
 *
 *     def work(v):
 *         for _ in range(1000):
 *             with v.get_lock():
 *                 v.value += 1
 *
 *     v = Value('i', 0)
 *     ps = [Process(target=work, args=(v,)) for _ in range(4)]
 *     for p in ps: p.start()
 *     for p in ps: p.join()
 *     print(v.value)   # 4000
 *
 * `v.value += 1` alone would be a separate read and write, each locked on
 * its own, and increments would be lost; the lock must span both.
 *
 * The value reaches each worker as its token (text in the worker's
 * argument bytes), which works under every start method: the value is
 * made in the spawn context, whose objects have tokens (Python:
 * get_context('spawn').Value), and a forked worker opens one too. */
#include <multiproc.h>

#include <stdio.h>
#include <stdlib.h>

#define WORKERS 4
#define ROUNDS 1000

/* Stops the example with the library's message when a call failed. */
static int
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "ERROR: %s: %s (%s)\n", what, mp_strerror(rc),
                mp_err_name(rc));
        exit(1);
    }
    return rc;
}

/* A worker: opens the value its token (arg) names and adds one ROUNDS
 * times, holding the value's lock across each read-modify-write. */
static int
work(void *arg)
{
    mp_value_t *v;
    check(mp_value_attach(&v, arg), "value attach");
    for (int i = 0; i < ROUNDS; i++) {
        mp_lock_acquire(mp_value_get_lock(v), MP_WAIT_FOREVER);
        *(int *)mp_value_ptr(v) += 1;
        mp_lock_release(mp_value_get_lock(v));
    }
    mp_value_destroy(v);
    return 0;
}

int
main(int argc, char **argv)
{
    /* A spawned child or the forkserver never returns from here. */
    mp_main(argc, argv);
    mp_context_t spawn_ctx;
    check(mp_get_context(MP_START_SPAWN, &spawn_ctx), "context");
    mp_value_t *v;
    mp_process_t *procs[WORKERS];
    check(mp_context_value(&spawn_ctx, &v, MP_TYPE_INT, NULL, NULL),
          "value create");
    char token[MP_TOKEN_MAX];
    check(mp_value_token(v, token, sizeof token), "value token");
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.arg_size = sizeof token; /* the child gets a copy of the token */
    for (int i = 0; i < WORKERS; i++) {
        check(mp_process_create(&procs[i], work, token, &opts), "create");
        check(mp_process_start(procs[i]), "start");
    }
    int failed = 0;
    for (int i = 0; i < WORKERS; i++) {
        int code;
        check(mp_process_join(procs[i], MP_WAIT_FOREVER), "join");
        check(mp_process_exitcode(procs[i], &code), "exitcode");
        failed += code != 0;
        mp_process_destroy(procs[i]);
    }
    int total;
    check(mp_value_get(v, &total), "value get");
    printf("counter = %d (expected %d)\n", total, WORKERS * ROUNDS);
    mp_value_destroy(v);
    if (failed != 0 || total != WORKERS * ROUNDS) {
        fprintf(stderr, "ERROR: %d workers failed, counter %d\n", failed,
                total);
        return 1;
    }
    return 0;
}
