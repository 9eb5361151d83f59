/* SPDX-License-Identifier: MIT */
/* queue_api.c - the Queue calls one by one (qsize, empty, full, put and get
 * with block and timeout, Full and Empty, put_nowait and get_nowait), then a
 * writer process and a reader process on one Queue.
 *
 * The C twin of seed 002 (002_5ac3e8d32ecfde20.txt), section "1. 队列通信":
 *
 *     Queue.qsize(), Queue.empty(), Queue.full()
 *     Queue.get([block[, timeout]])   # raises queue.Empty
 *     Queue.get_nowait()              # get(block=False)
 *     Queue.put(item, [block[, timeout]])   # raises queue.Full
 *     Queue.put_nowait(item)          # put(item, False)
 *
 *     def write(q):
 *         for i in range(10):
 *             print('Put %d to queue...' % i)
 *             q.put(i)
 *             time.sleep(0.1)
 *
 *     def read(q):
 *         while True:
 *             if not q.empty():
 *                 print('Get %d from queue.' % q.get())
 *                 time.sleep(0.2)
 *             else:
 *                 break
 *
 *     if __name__ == '__main__':
 *         q = Queue()
 *         p_w = Process(target=write, args=(q,))
 *         p_r = Process(target=read, args=(q,))
 *         p_w.start(); p_r.start(); p_w.join(); p_r.join()
 *
 * Python's block=False is the timeout MP_NO_WAIT, block=True without a
 * timeout is MP_WAIT_FOREVER, and a timeout in seconds is one in
 * milliseconds. queue.Full and queue.Empty are the return codes MP_EFULL
 * and MP_EEMPTY. The seed's reader stops at the first empty(), which can
 * come before the writer put anything (the output then depends on luck);
 * this reader takes the ten numbers with a blocking get, and only then shows
 * get(timeout) running into Empty. */
#include <multiproc.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COUNT 10

/* Stops the example with the library's message when a call failed;
 * otherwise returns rc (a count or a 0/1 answer). */
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

/* Python's True/False for an answer. */
static const char *
py_bool(bool b)
{
    return b ? "True" : "False";
}

/* Python's name of the exception a failed put or get raises. */
static const char *
py_exc(long rc)
{
    if (rc == MP_EFULL) {
        return "queue.Full";
    }
    if (rc == MP_EEMPTY) {
        return "queue.Empty";
    }
    check(rc, "put/get"); /* any other failure stops the example */
    return "no exception";
}

/* Prints qsize(), empty() and full() of q. */
static void
show(const char *when, mp_queue_t *q)
{
    printf("%-16s qsize()=%ld empty()=%s full()=%s\n", when,
           check(mp_queue_qsize(q), "qsize"), py_bool(mp_queue_empty(q)),
           py_bool(mp_queue_full(q)));
}

/* Takes one int message from q (waiting up to timeout); returns the value,
 * or stores the failure in *rc and returns -1. */
static int
get_int(mp_queue_t *q, mp_duration_t timeout, long *rc)
{
    int value = -1;
    *rc = mp_queue_get_into(q, &value, sizeof(value), timeout);
    if (*rc >= 0 && *rc != (long)sizeof(value)) {
        fprintf(stderr, "ERROR: a message of %ld bytes\n", *rc);
        exit(1);
    }
    return value;
}

/* Takes one int message from q that must be there within timeout. */
static int
get_ok(mp_queue_t *q, mp_duration_t timeout)
{
    long rc;
    int value = get_int(q, timeout, &rc);
    check(rc, "get");
    return value;
}

/* Part 1, in the parent: a Queue(3) filled and emptied by hand. */
static void
api_tour(void)
{
    mp_queue_t *q;
    mp_queue_opts_t opts = MP_QUEUE_OPTS_INIT;
    opts.maxsize = 3;
    long rc;
    check(mp_queue_create(&q, &opts), "create");
    show("Queue(3):", q);
    for (int i = 1; i <= 3; i++) {
        check(mp_queue_put(q, &i, sizeof(i), MP_WAIT_FOREVER), "put");
        printf("put(%d)\n", i);
    }
    show("after 3 puts:", q);

    int four = 4;
    rc = mp_queue_put(q, &four, sizeof(four), 100);
    printf("put(4, True, 0.1):   %s (%s)\n", py_exc(rc), mp_err_name((int)rc));
    rc = mp_queue_put_nowait(q, &four, sizeof(four));
    printf("put_nowait(4):       %s (%s)\n", py_exc(rc), mp_err_name((int)rc));
    rc = mp_queue_put(q, &four, sizeof(four), MP_NO_WAIT);
    printf("put(4, False):       %s (%s)\n", py_exc(rc), mp_err_name((int)rc));

    printf("get():               %d\n", get_ok(q, MP_WAIT_FOREVER));
    printf("get(True, 0.1):      %d\n", get_ok(q, 100));
    printf("get_nowait():        %d\n", get_ok(q, MP_NO_WAIT));
    show("after 3 gets:", q);

    get_int(q, 100, &rc);
    printf("get(True, 0.1):      %s (%s)\n", py_exc(rc), mp_err_name((int)rc));
    get_int(q, MP_NO_WAIT, &rc);
    printf("get_nowait():        %s (%s)\n", py_exc(rc), mp_err_name((int)rc));
    mp_queue_destroy(q);
}

/* Opens the queue a child's argument names (its name, as bytes). */
static mp_queue_t *
open_queue(const char *name)
{
    mp_queue_t *q;
    check(mp_queue_attach(&q, name), "attach");
    return q;
}

/* The writer process: puts 0 .. COUNT-1. */
static int
write_proc(void *arg)
{
    mp_queue_t *q = open_queue(arg);
    for (int i = 0; i < COUNT; i++) {
        printf("Put %d to queue...\n", i);
        check(mp_queue_put(q, &i, sizeof(i), MP_WAIT_FOREVER), "put");
        sleep_ms(20);
    }
    mp_queue_destroy(q); /* only unmaps: the values stay */
    return 0;
}

/* The reader process: gets the COUNT numbers in order, then waits 0.1 s in
 * vain. Its exit code is the number of values that were out of order. */
static int
read_proc(void *arg)
{
    mp_queue_t *q = open_queue(arg);
    int wrong = 0;
    long rc;
    for (int i = 0; i < COUNT; i++) {
        int v = get_ok(q, MP_WAIT_FOREVER);
        printf("Get %d from queue.\n", v);
        wrong += v != i;
    }
    get_int(q, 100, &rc);
    printf("reader: get(True, 0.1) -> %s, done\n", py_exc(rc));
    mp_queue_destroy(q);
    return wrong;
}

/* Starts target(q's name) in a new process: the name as bytes reaches it
 * under every start method, and it attaches the queue. */
static mp_process_t *
start(mp_target_fn target, mp_queue_t *q)
{
    const char *name = mp_queue_name(q);
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.arg_size = strlen(name) + 1;
    mp_process_t *p;
    check(mp_process_create(&p, target, (void *)name, &opts), "create");
    check(mp_process_start(p), "start");
    return p;
}

/* Joins p and returns its exit code. */
static int
join_code(mp_process_t *p)
{
    int code;
    check(mp_process_join(p, MP_WAIT_FOREVER), "join");
    check(mp_process_exitcode(p, &code), "exitcode");
    mp_process_destroy(p);
    return code;
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);

    printf("--- the Queue API ---\n");
    api_tour();

    printf("--- a writer and a reader ---\n");
    mp_queue_t *q;
    check(mp_queue_create(&q, NULL), "create");
    mp_process_t *p_w = start(write_proc, q);
    mp_process_t *p_r = start(read_proc, q);
    int code_w = join_code(p_w);
    int code_r = join_code(p_r);
    mp_queue_destroy(q);
    printf("writer exit code %d, reader exit code %d\n", code_w, code_r);
    return code_w == 0 && code_r == 0 ? 0 : 1;
}
