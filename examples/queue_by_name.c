/* SPDX-License-Identifier: MIT */
/* queue_by_name.c - worker processes that are already running receive a
 * Queue made after they started, by its name sent over a Pipe, put their
 * values on it, and the parent reads them: what Python needs a Manager for.
 *
 * The C twin of seed 000 (000_7984725b68a0ecd0.txt), "范例一" and "范例三",
 * and of seed 002 (002_5ac3e8d32ecfde20.txt), "2. 进程池中的 Queue":
 *
 *     def write(q):
 *         print('Process to write: %s' % os.getpid())
 *         for value in range(3):
 *             print('Put %s to queue...' % value)
 *             q.put(value)
 *             time.sleep(random.random())
 *
 *     # 范例一: a plain Queue handed to a Pool task fails with
 *     # RuntimeError: Queue objects should only be shared between
 *     # processes through inheritance
 *
 *     # 范例三: the way that works in Python
 *     with Manager() as manager:
 *         with Pool(processes=8) as pool:
 *             q = manager.Queue()
 *             for i in range(3):
 *                 pool.apply_async(func=write, args=(q,))
 *             pool.apply_async(func=read, args=(q,)).get()
 *
 * Why Python needs a Manager here: a multiprocessing.Queue is a pipe plus a
 * lock and a semaphore, all reached through file descriptors and handles
 * that are handed to a child only when it is created. Pool workers already
 * run when a task arrives, and a task's arguments travel pickled through
 * the pool's own pipe, which cannot carry those descriptors, so pickling the
 * Queue raises RuntimeError. A Manager().Queue() is a proxy instead: an
 * address and an id of a queue that lives in the manager's server process,
 * and every put and get is a round trip to that server.
 *
 * Why this library does not: an mp_queue_t lives entirely in a named block
 * of shared memory, with its locks and waits inside the block itself. Its
 * name (mp_queue_name) is all another process needs: a short string that
 * can travel over any channel, here a Pipe; mp_queue_attach maps the same
 * queue, and puts and gets stay direct, with no server in between.
 *
 * Three workers start first and wait on their pipes (standing in for pool
 * workers that are idle until a task comes). Then the parent creates the
 * queue, sends its name to each worker, and reads the 3 x 3 values. Each
 * worker's end of its pipe reaches it as a token in its argument bytes
 * (mp_conn_token), which works under every start method. */
#include <multiproc.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 3
#define VALUES 3

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

/* A worker: opens its pipe's end (arg: its token), waits for a queue's
 * name on it (the queue does not exist yet when it starts), attaches the
 * queue and runs the seed's write(q). */
static int
worker(void *arg)
{
    mp_conn_t *tasks;
    check(mp_conn_attach(&tasks, arg, 30000), "pipe attach");
    char name[256];
    ssize_t n =
        mp_conn_recv_bytes_into(tasks, name, sizeof(name) - 1, MP_WAIT_FOREVER);
    check(n, "recv name");
    name[n] = '\0';
    mp_conn_destroy(tasks);

    mp_queue_t *q;
    check(mp_queue_attach(&q, name), "attach");
    printf("Process to write: %d (attached queue '%s')\n", (int)getpid(), name);
    srand((unsigned)getpid());
    for (int value = 0; value < VALUES; value++) {
        printf("Put %d to queue...\n", value);
        check(mp_queue_put(q, &value, sizeof(value), MP_WAIT_FOREVER), "put");
        sleep_ms(rand() % 100); /* time.sleep(random.random()) */
    }
    /* Only unmaps: the queue belongs to the parent, and the values stay. */
    mp_queue_destroy(q);
    return 0;
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);
    printf("Parent process %d.\n", (int)getpid());

    /* The "pool": workers started before the queue exists. */
    mp_process_t *workers[WORKERS];
    mp_conn_t *to_worker[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        mp_conn_t *reader;
        check(mp_pipe(&reader, &to_worker[i], false), "pipe");
        char token[MP_TOKEN_MAX];
        check(mp_conn_token(reader, token, sizeof token), "pipe token");
        mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
        opts.arg_size = sizeof token; /* the child gets a copy */
        check(mp_process_create(&workers[i], worker, token, &opts), "create");
        check(mp_process_start(workers[i]), "start");
        mp_conn_destroy(reader); /* the worker opens its own copy */
    }

    /* Only now the queue: the workers cannot have inherited it. */
    mp_queue_t *q;
    check(mp_queue_create(&q, NULL), "queue create");
    const char *name = mp_queue_name(q);
    printf("queue created after %d workers started; its name: %s\n", WORKERS,
           name);
    for (int i = 0; i < WORKERS; i++) {
        check(mp_conn_send_bytes(to_worker[i], name, strlen(name),
                                 MP_WAIT_FOREVER),
              "send name");
        mp_conn_destroy(to_worker[i]);
    }

    /* The seed's read(q), in the parent: WORKERS x VALUES values. */
    int seen[VALUES] = {0};
    for (int i = 0; i < WORKERS * VALUES; i++) {
        int value;
        ssize_t n =
            mp_queue_get_into(q, &value, sizeof(value), MP_WAIT_FOREVER);
        check(n, "get");
        printf("Get %d from queue.\n", value);
        if (value >= 0 && value < VALUES) {
            seen[value]++;
        }
    }

    int failed = 0;
    for (int i = 0; i < WORKERS; i++) {
        int code;
        check(mp_process_join(workers[i], MP_WAIT_FOREVER), "join");
        check(mp_process_exitcode(workers[i], &code), "exitcode");
        mp_process_destroy(workers[i]);
        failed |= code != 0;
    }
    mp_queue_destroy(q);

    printf("got each of 0 .. %d this many times:", VALUES - 1);
    for (int v = 0; v < VALUES; v++) {
        printf(" %d", seen[v]);
        failed |= seen[v] != WORKERS;
    }
    printf("\n%s\n", failed ? "ERROR: values or exit codes are wrong"
                            : "all workers done");
    return failed;
}
