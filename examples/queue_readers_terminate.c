/* SPDX-License-Identifier: MIT */
/* queue_readers_terminate.c - one writer and two readers share a Queue; the
 * readers loop forever on get, so once everything was read the parent stops
 * them with terminate (exit code -15).
 *
 * The C twin of seed 000 (000_7984725b68a0ecd0.txt), "范例二":
 *
 *     def write(q):
 *         print('Process to write: %s' % os.getpid())
 *         for value in range(10):
 *             q.put(value)
 *             time.sleep(random.random())
 *
 *     def read(q):
 *         print('Process to read: %s' % os.getpid())
 *         while True:
 *             value = q.get(True)
 *             print('Get %s from queue.' % value)
 *
 *     if __name__ == '__main__':
 *         q = Queue()
 *         pw = Process(target=write, args=(q,))
 *         pr1 = Process(target=read, args=(q,))
 *         pr2 = Process(target=read, args=(q,))
 *         pw.start(); pr1.start(); pr2.start()
 *         pw.join()
 *         # the readers loop forever: they cannot be joined, only terminated
 *         pr1.terminate()
 *         pr2.terminate()
 *
 * The seed terminates the readers as soon as the writer is done, so the last
 * values may still be in the queue, or taken but not yet printed. Here each
 * reader releases a semaphore after it printed a value, and the parent
 * acquires it once per value written before it terminates the readers: by
 * then every value was got and printed, and both readers wait in get() for a
 * value that never comes. The random sleeps are shorter than the seed's
 * (up to 0.1 s instead of up to 1 s).
 *
 * The children get the queue's name and the semaphore's token as argument
 * bytes and open both, which works under every start method (Python
 * pickles them for a spawn child); the semaphore is made in the spawn
 * context, whose objects have tokens. */
#include <multiproc.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define COUNT 10
#define READERS 2

/* What every child gets: the queue, and the semaphore a reader releases for
 * each value it printed; as text (the queue's name and the semaphore's
 * token) in the argument bytes, opened by open_shared. */
struct shared {
    mp_queue_t *q;
    mp_semaphore_t *printed;
};
struct shared_names {
    char q[MP_TOKEN_MAX];
    char printed[MP_TOKEN_MAX];
};

/* Stops the example with the library's message when a call failed;
 * otherwise returns rc. */
static long
check(long rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "ERROR: %s: %s (%s)\n", what, mp_strerror((int)rc),
                mp_err_name((int)rc));
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

/* Opens in a child the objects that names (the argument bytes) names. */
static struct shared
open_shared(const struct shared_names *names)
{
    struct shared s;
    check(mp_queue_attach(&s.q, names->q), "queue attach");
    check(mp_semaphore_attach(&s.printed, names->printed), "semaphore attach");
    return s;
}

/* The writer: puts 0 .. COUNT-1 with a random pause after each. */
static int
write_proc(void *arg)
{
    struct shared sh = open_shared(arg), *s = &sh;
    printf("Process to write: %d\n", (int)getpid());
    srand((unsigned)getpid());
    for (int value = 0; value < COUNT; value++) {
        printf("Put %d to queue...\n", value);
        check(mp_queue_put(s->q, &value, sizeof(value), MP_WAIT_FOREVER),
              "put");
        sleep_ms(rand() % 100); /* time.sleep(random.random()) */
    }
    mp_semaphore_destroy(s->printed);
    mp_queue_destroy(s->q); /* only unmaps: the values stay */
    return 0;
}

/* A reader: gets and prints values forever (until it is terminated). */
static int
read_proc(void *arg)
{
    struct shared sh = open_shared(arg), *s = &sh;
    printf("Process to read: %d\n", (int)getpid());
    for (;;) {
        int value;
        ssize_t n =
            mp_queue_get_into(s->q, &value, sizeof(value), MP_WAIT_FOREVER);
        check(n, "get");
        printf("Get %d from queue.\n", value);
        check(mp_semaphore_release(s->printed), "release");
    }
    return 0; /* not reached */
}

/* Starts target(names) in a new process. */
static mp_process_t *
start(mp_target_fn target, struct shared_names *names)
{
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.arg_size = sizeof *names; /* the child gets a copy */
    mp_process_t *p;
    check(mp_process_create(&p, target, names, &opts), "create");
    check(mp_process_start(p), "start");
    return p;
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);

    mp_context_t spawn_ctx;
    check(mp_get_context(MP_START_SPAWN, &spawn_ctx), "context");
    struct shared s;
    check(mp_queue_create(&s.q, NULL), "queue create");
    check(mp_context_semaphore(&spawn_ctx, &s.printed, 0), "semaphore create");
    struct shared_names names;
    snprintf(names.q, sizeof names.q, "%s", mp_queue_name(s.q));
    check(mp_semaphore_token(s.printed, names.printed, sizeof names.printed),
          "semaphore token");
    mp_process_t *pw = start(write_proc, &names);
    mp_process_t *pr[READERS];
    for (int i = 0; i < READERS; i++) {
        pr[i] = start(read_proc, &names);
    }

    int code;
    check(mp_process_join(pw, MP_WAIT_FOREVER), "join writer");
    check(mp_process_exitcode(pw, &code), "exitcode");
    mp_process_destroy(pw);
    printf("writer done, exit code %d\n", code);
    int failed = code != 0;

    /* Wait until every value was got and printed (see the top comment). */
    for (int i = 0; i < COUNT; i++) {
        check(mp_semaphore_acquire(s.printed, MP_WAIT_FOREVER), "acquire");
    }
    printf("queue drained: qsize()=%ld, empty()=%s\n",
           check(mp_queue_qsize(s.q), "qsize"),
           mp_queue_empty(s.q) ? "True" : "False");

    /* pr.terminate(): the readers are blocked in get() for good. */
    for (int i = 0; i < READERS; i++) {
        check(mp_process_terminate(pr[i]), "terminate");
        check(mp_process_join(pr[i], MP_WAIT_FOREVER), "join reader");
        check(mp_process_exitcode(pr[i], &code), "exitcode");
        printf("reader %s terminated, exit code %d\n", mp_process_name(pr[i]),
               code);
        failed |= code != -15;
        mp_process_destroy(pr[i]);
    }
    mp_semaphore_destroy(s.printed);
    mp_queue_destroy(s.q);
    printf("parent ends\n");
    return failed;
}
