/* SPDX-License-Identifier: MIT */
/* lock_print.c - ten processes print "hello world i", one at a time, under
 * a Lock handed to them.
 *
 * The C twin of seed 003 (003_ebf8edffc6108dde.txt), part "4、锁" (a lock that
 * only guards the shared screen):
 *
 *     def f(l, i):
 *         l.acquire()
 *         print('hello world', i)
 *         l.release()
 *
 *     if __name__ == '__main__':
 *         lock = Lock()
 *         for num in range(10):
 *             Process(target=f, args=(lock, num)).start()
 *
 * The lines come out in the order the children get the lock, which is
 * usually, but not always, 0 to 9.
 *
 * The lock reaches each child as its token in the argument bytes, which
 * works under every start method (Python pickles it for a spawn child): it
 * is made in the spawn context, whose objects have tokens, and a forked
 * child opens a token as well. */
#include <multiproc.h>

#include <stdio.h>
#include <stdlib.h>

#define WORKERS 10

/* One child's arguments: the lock's token and its number. */
struct f_args {
    char lock[MP_TOKEN_MAX];
    int i;
};

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

/* The child: prints its line while holding the lock. */
static int
f(void *arg)
{
    const struct f_args *a = arg;
    mp_lock_t *lock;
    check(mp_lock_attach(&lock, a->lock), "attach");
    check(mp_lock_acquire(lock, MP_WAIT_FOREVER), "acquire");
    printf("hello world %d\n", a->i);
    fflush(stdout); /* the line leaves before the lock does */
    check(mp_lock_release(lock), "release");
    mp_lock_destroy(lock);
    return 0;
}

int
main(int argc, char **argv)
{
    /* A spawned child or the forkserver never returns from here. */
    mp_main(argc, argv);
    mp_context_t spawn_ctx;
    check(mp_get_context(MP_START_SPAWN, &spawn_ctx), "context");
    mp_lock_t *lock;
    check(mp_context_lock(&spawn_ctx, &lock), "lock create");
    struct f_args args[WORKERS];
    mp_process_t *procs[WORKERS];
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.arg_size = sizeof args[0]; /* the child gets a copy of its args */
    for (int num = 0; num < WORKERS; num++) {
        check(mp_lock_token(lock, args[num].lock, sizeof args[num].lock),
              "token");
        args[num].i = num;
        check(mp_process_create(&procs[num], f, &args[num], &opts), "create");
        check(mp_process_start(procs[num]), "start");
    }
    /* Python joins the children when the main module ends. */
    int failed = 0;
    for (int num = 0; num < WORKERS; num++) {
        int code;
        check(mp_process_join(procs[num], MP_WAIT_FOREVER), "join");
        check(mp_process_exitcode(procs[num], &code), "exitcode");
        failed += code != 0;
        mp_process_destroy(procs[num]);
    }
    mp_lock_destroy(lock);
    return failed == 0 ? 0 : 1;
}
