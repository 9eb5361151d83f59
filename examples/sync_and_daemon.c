/* SPDX-License-Identifier: MIT */
/* sync_and_daemon.c - a daemon process that ends with the main process, a
 * Lock that keeps each worker's lines together, and a Semaphore that lets
 * at most two workers in at once.
 *
 * The C twin of seed 002 (002_5ac3e8d32ecfde20.txt), section "五、守护进程和
 * 进程同步", which says in words (the seed has no code for it):
 *
 *     A daemon process ends automatically when the main process's code
 *     has finished. The module also has synchronisation primitives such
 *     as Lock and Semaphore to synchronise the work of processes.
 *
 * In Python terms:
 *
 *     d = Process(target=watch, daemon=True); d.start()
 *     lock = Lock()
 *     for i in range(3): Process(target=say, args=(lock, i)).start()
 *     sem = Semaphore(2)
 *     for i in range(4): Process(target=visit, args=(sem, inside, i)).start()
 *     # ... join the workers; the daemon is terminated at exit
 *
 * The lock, the semaphore and the array reach each worker as tokens in its
 * argument bytes, which works under every start method (Python pickles
 * them for a spawn child): they are made in the spawn context, whose
 * objects have tokens, and a forked worker opens a token as well. */
#include <multiproc.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define SAYERS 3
#define VISITORS 4
#define SEM_SLOTS 2

/* The daemon's handle. A global, so that it stays reachable until the
 * library's exit handler has terminated the daemon. */
static mp_process_t *daemon_proc;

/* What the workers share. */
struct shared {
    mp_lock_t *lock;
    mp_semaphore_t *sem;
    mp_array_t *inside; /* [workers inside now, most inside at once] */
};
/* What each worker gets: the shared objects' tokens. */
struct shared_tokens {
    char lock[MP_TOKEN_MAX];
    char sem[MP_TOKEN_MAX];
    char inside[MP_TOKEN_MAX];
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

/* Sleeps ms milliseconds. */
static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The daemon: watches until the main process ends, which ends it too. */
static int
watch(void *arg)
{
    (void)arg;
    printf("daemon %s: watching until the main process ends\n",
           mp_process_name(mp_current_process()));
    for (;;) {
        pause(); /* until a signal ends the process */
    }
    return 0; /* not reached */
}

/* Opens in a worker the objects whose tokens (its argument) t holds. */
static struct shared
open_shared(const struct shared_tokens *t)
{
    struct shared sh;
    check(mp_lock_attach(&sh.lock, t->lock), "lock attach");
    check(mp_semaphore_attach(&sh.sem, t->sem), "semaphore attach");
    check(mp_array_attach(&sh.inside, t->inside), "array attach");
    return sh;
}

/* Drops a worker's handles (the objects stay: they are the parent's). */
static void
close_shared(struct shared *sh)
{
    mp_array_destroy(sh->inside);
    mp_semaphore_destroy(sh->sem);
    mp_lock_destroy(sh->lock);
}

/* A Lock worker: its three lines come out together. */
static int
say(void *arg)
{
    struct shared opened = open_shared(arg), *sh = &opened;
    const char *me = mp_process_name(mp_current_process());
    check(mp_lock_acquire(sh->lock, MP_WAIT_FOREVER), "lock acquire");
    for (int i = 1; i <= 3; i++) {
        printf("%s holds the lock: line %d of 3\n", me, i);
        sleep_ms(10); /* others would get in here without the lock */
    }
    check(mp_lock_release(sh->lock), "lock release");
    close_shared(sh);
    return 0;
}

/* Adds delta to the count of workers inside the semaphore and returns the
 * new count, keeping the maximum up to date. */
static int
count_inside(mp_array_t *inside, int delta)
{
    mp_lock_t *lock = mp_array_get_lock(inside);
    int *counts = mp_array_ptr(inside);
    check(mp_lock_acquire(lock, MP_WAIT_FOREVER), "array lock");
    int now = counts[0] += delta;
    if (now > counts[1]) {
        counts[1] = now;
    }
    check(mp_lock_release(lock), "array unlock");
    return now;
}

/* A Semaphore worker: enters, stays a moment, leaves. */
static int
visit(void *arg)
{
    struct shared opened = open_shared(arg), *sh = &opened;
    const char *me = mp_process_name(mp_current_process());
    check(mp_semaphore_acquire(sh->sem, MP_WAIT_FOREVER), "sem acquire");
    printf("%s enters (%d inside)\n", me, count_inside(sh->inside, 1));
    sleep_ms(50);
    printf("%s leaves (%d inside)\n", me, count_inside(sh->inside, -1));
    check(mp_semaphore_release(sh->sem), "sem release");
    close_shared(sh);
    return 0;
}

/* Starts n processes running target(tokens), joins them all, and returns
 * how many did not exit with 0. */
static int
run_workers(int n, mp_target_fn target, struct shared_tokens *tokens)
{
    mp_process_t *procs[VISITORS];
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.arg_size = sizeof *tokens; /* each worker gets a copy */
    int failed = 0;
    for (int i = 0; i < n; i++) {
        check(mp_process_create(&procs[i], target, tokens, &opts), "create");
        check(mp_process_start(procs[i]), "start");
    }
    for (int i = 0; i < n; i++) {
        int code;
        check(mp_process_join(procs[i], MP_WAIT_FOREVER), "join");
        check(mp_process_exitcode(procs[i], &code), "exitcode");
        failed += code != 0;
        mp_process_destroy(procs[i]);
    }
    return failed;
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines in the order they are made */
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);

    mp_process_opts_t daemon_opts = MP_PROCESS_OPTS_INIT;
    daemon_opts.daemon = true;
    check(mp_process_create(&daemon_proc, watch, NULL, &daemon_opts), "create");
    check(mp_process_start(daemon_proc), "start");

    mp_context_t spawn_ctx;
    check(mp_get_context(MP_START_SPAWN, &spawn_ctx), "context");
    struct shared sh;
    check(mp_context_lock(&spawn_ctx, &sh.lock), "lock create");
    check(mp_context_semaphore(&spawn_ctx, &sh.sem, SEM_SLOTS),
          "semaphore create");
    check(mp_context_array(&spawn_ctx, &sh.inside, MP_TYPE_INT, 2, NULL, NULL),
          "array create");
    struct shared_tokens tokens;
    check(mp_lock_token(sh.lock, tokens.lock, sizeof tokens.lock), "token");
    check(mp_semaphore_token(sh.sem, tokens.sem, sizeof tokens.sem), "token");
    check(mp_array_token(sh.inside, tokens.inside, sizeof tokens.inside),
          "token");

    printf("--- Lock: one worker prints at a time ---\n");
    int failed = run_workers(SAYERS, say, &tokens);
    printf("--- Semaphore(%d): at most %d workers inside ---\n", SEM_SLOTS,
           SEM_SLOTS);
    failed += run_workers(VISITORS, visit, &tokens);
    int most;
    check(mp_array_get(sh.inside, 1, &most), "array get");
    printf("most workers inside at once: %d\n", most);
    if (failed != 0 || most > SEM_SLOTS) {
        fprintf(stderr, "ERROR: %d workers failed, %d inside at once\n", failed,
                most);
        return 1;
    }

    int alive = check(mp_process_is_alive(daemon_proc), "is_alive");
    printf("daemon %s alive: %s; main ends, and the daemon with it\n",
           mp_process_name(daemon_proc), alive ? "True" : "False");
    mp_array_destroy(sh.inside);
    mp_semaphore_destroy(sh.sem);
    mp_lock_destroy(sh.lock);
    /* The library terminates daemon children when main returns (Python's
     * exit handler does the same); a running child's handle cannot be
     * destroyed, so daemon_proc is left to the exit. */
    return 0;
}
