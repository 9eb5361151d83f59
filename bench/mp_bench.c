/* SPDX-License-Identifier: MIT */
/* mp_bench.c - the workloads of bench/py_bench.py (whose reference is
 * ../shared/bench/py_anchor.py), run with this library: same names,
 * shapes, sizes and counts (times --scale), same output
 * `name<TAB>value<TAB>unit<TAB>notes` with '#' metadata lines, so that
 * bench/compare can set the two side by side. Workloads whose pieces have
 * not landed yet say so on stderr and print no result line. After
 * py_bench's workloads come a few it lacks (queue_throughput_small_8p8c,
 * queue_throughput_64mib, pool_map_worker_killed) and pool_rss_idle_worker
 * (which py_bench has, but not the reference py_anchor);
 * pool_startup also prints the bare fork floor under a pool start, and
 * pool_startup_first_result times a pool's start under each start method
 * (py_bench has it, the reference py_anchor does not). --size, --procs,
 * --workers and --items (py_bench's options) run a few workloads at one
 * point of a sweep (bench/compare --sweep; see g_size below). With
 * MP_BENCH_PIN=split in the environment the parent and the children of
 * the 1->1 workloads (echo, producer and consumer, the two lock workers,
 * pool workers) run pinned to different CPUs (bench_pin; bench/compare-peers
 * sets it for its "split" placement). */
#include <multiproc.h>

#include "bench_util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Every join is bounded, as py_bench's WAIT_S (120 s). */
#define JOIN_TIMEOUT_MS ((mp_duration_t)120000)
#define MIB ((size_t)1 << 20)

/* The counts py_bench uses by default (its --n-* flags). */
#define N_FORK 150
#define N_FORKSERVER 30
#define N_SPAWN 20
#define N_LOCK 10000000L
#define N_VALUE 1000000L
#define N_SHM 20000L
#define N_SHM_COPY 50000L
#define N_PINGPONG 30000L
#define N_QUEUE_SMALL 200000L
#define N_QUEUE_LARGE 200L
#define N_PIPE_LARGE 1500L
#define N_JOINABLE 100000L
#define N_POOL_STARTUP 30L
#define N_POOL_STARTUP_FIRST 10L
#define N_POOL_MAP 3000000L
#define N_POOL_MAP_CS1 50000L
#define N_POOL_IMAP 50000L
#define N_POOL_IMAP_CS100 2000000L
#define N_APPLY 10000L
#define N_MANAGER_START 40L
#define N_MANAGER_DICT 20000L
#define N_MANAGER_QUEUE 20000L
/* Ours, not py_bench's: messages of queue_throughput_64mib. */
#define N_QUEUE_HUGE 40L
/* Ours: items of pool_map_worker_killed, each sleeping SLOW_ITEM_US. */
#define N_POOL_KILLED 2000L
#define SLOW_ITEM_US 200L

static double g_scale = 1.0;

/* One point of a sweep (bench/compare --sweep), py_bench's options of the
 * same names: --size, the bytes of the messages of
 * {queue,simplequeue,pipe}_throughput_large (default 1 MiB); --procs, the
 * producers and the consumers of the small-message queue runs (0: their
 * 1p1c and 2p2c); --workers, pool_map_trivial's pool; --items, the items
 * of pool_map_trivial's one map (0: its two maps at their counts). */
static size_t g_size = MIB;
static long g_procs;
static long g_workers = 2;
static long g_items;

/* Returns max(lo, int(n * scale)), py_bench's scaling of every count. */
static long
scaled(long n, long lo)
{
    long r = (long)((double)n * g_scale);

    return r < lo ? lo : r;
}

/* The count of a 1 MiB workload (n_1mib messages, at least lo) at --size:
 * as many bytes, but no more messages than the small-message runs send;
 * then scaled, and at least 8 at a size other than 1 MiB (py_bench's
 * Run.n_sized). */
static long
scaled_sized(long n_1mib, long lo)
{
    double n = (double)n_1mib * (double)MIB / (double)g_size;

    return scaled(n < (double)N_QUEUE_SMALL ? (long)n : N_QUEUE_SMALL,
                  g_size != MIB && lo < 8 ? 8 : lo);
}

/* Stops the program with the library's message when a call failed;
 * otherwise returns rc (a length for the calls that return one). */
static ssize_t
check(ssize_t rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "mp_bench: %s: %s (%s)\n", what, mp_strerror((int)rc),
                mp_err_name((int)rc));
        exit(2);
    }
    return rc;
}

/* Starts target(arg) in a new child process and returns its handle. */
static mp_process_t *
spawn(mp_target_fn target, void *arg)
{
    mp_process_t *p = NULL;

    check(mp_process_create(&p, target, arg, NULL), "mp_process_create");
    check(mp_process_start(p), "mp_process_start");
    return p;
}

/* Joins and frees each of n started children; exits unless all returned 0. */
static void
join_all(mp_process_t **ps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int code = -1;

        check(mp_process_join(ps[i], JOIN_TIMEOUT_MS), "mp_process_join");
        check(mp_process_exitcode(ps[i], &code), "mp_process_exitcode");
        if (code != 0) {
            fprintf(stderr, "mp_bench: child %d exit code %d\n",
                    (int)mp_process_pid(ps[i]), code);
            exit(2);
        }
        mp_process_destroy(ps[i]);
    }
}

/*----- processes ----------------------------------------------------------*/

/* The child of process_start_join: does nothing. */
static int
noop_target(void *arg)
{
    (void)arg;
    return 0;
}

/* Creates, starts (by method) and joins one no-op child. */
static void
start_join_once(mp_start_method_t method)
{
    mp_process_opts_t o = MP_PROCESS_OPTS_INIT;
    o.start_method = method;
    mp_process_t *p = NULL;

    check(mp_process_create(&p, noop_target, NULL, &o), "mp_process_create");
    check(mp_process_start(p), "mp_process_start");
    join_all(&p, 1);
}

/* process_start_join: sequential create+start+join of a no-op child, by
 * each start method (forkserver and spawn exec this program: main calls
 * mp_main first). */
static void
wl_process_start_join(void)
{
    static const struct {
        mp_start_method_t method;
        const char *name;
        long count; /* py_bench's --n-fork, --n-forkserver, --n-spawn */
    } methods[] = {
        {MP_START_FORK, "process_start_join_fork", N_FORK},
        {MP_START_FORKSERVER, "process_start_join_forkserver", N_FORKSERVER},
        {MP_START_SPAWN, "process_start_join_spawn", N_SPAWN},
    };

    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        long n = scaled(methods[m].count, 1);

        /* Warm-up, as py_bench: starts the forkserver, warms caches. */
        for (int i = 0; i < 3; i++) {
            start_join_once(methods[m].method);
        }
        double t0 = bench_now();
        for (long i = 0; i < n; i++) {
            start_join_once(methods[m].method);
        }
        double dt = bench_now() - t0;
        bench_emit(methods[m].name, dt / (double)n * 1e6, "us",
                   "n=%ld mp_process_create+start+join+destroy(noop) "
                   "sequential, start method %s",
                   n, mp_start_method_name(methods[m].method));
    }
}

/*----- pipes --------------------------------------------------------------*/

/* The ends the echo child of a ping-pong uses, and how many to echo. */
struct pingpong {
    mp_conn_t *rd;
    mp_conn_t *wr;
    long n;
};

/* Child of pipe_pingpong: says "ready", then echoes n messages. */
static int
pingpong_child(void *arg)
{
    const struct pingpong *pp = arg;
    char buf[64];

    if (mp_conn_send_bytes(pp->wr, "ready", 5, MP_WAIT_FOREVER) != 0) {
        return 1;
    }
    for (long i = 0; i < pp->n; i++) {
        ssize_t len =
            mp_conn_recv_bytes_into(pp->rd, buf, sizeof buf, MP_WAIT_FOREVER);

        if (len < 0 || mp_conn_send_bytes(pp->wr, buf, (size_t)len,
                                          MP_WAIT_FOREVER) != 0) {
            return 1;
        }
    }
    return 0;
}

/* Times n 8-byte round trips (after py_bench's 2000 warm-up ones) from
 * the parent's ends prd/pwr to an echo child on pp's ends. */
static void
pingpong_run(const char *name, const char *how, mp_conn_t *prd, mp_conn_t *pwr,
             struct pingpong *pp)
{
    long n = scaled(N_PINGPONG, 1);
    long warm = n < 2000 ? n : 2000;
    static const char msg[8] = {'1', '2', '3', '4', '5', '6', '7', '8'};
    char buf[64];

    pp->n = warm + n;
    mp_process_t *p = spawn(pingpong_child, pp);
    bench_pin(mp_process_pid(p), 0);
    ssize_t len =
        check(mp_conn_recv_bytes_into(prd, buf, sizeof buf, JOIN_TIMEOUT_MS),
              "mp_conn_recv_bytes_into");
    if (len != 5 || memcmp(buf, "ready", 5) != 0) {
        fprintf(stderr, "mp_bench: %s: bad ready message\n", name);
        exit(3);
    }
    double t0 = 0;
    for (long i = -warm; i < n; i++) {
        if (i == 0) {
            t0 = bench_now();
        }
        check(mp_conn_send_bytes(pwr, msg, sizeof msg, MP_WAIT_FOREVER),
              "mp_conn_send_bytes");
        check(mp_conn_recv_bytes_into(prd, buf, sizeof buf, MP_WAIT_FOREVER),
              "mp_conn_recv_bytes_into");
    }
    double dt = bench_now() - t0;
    join_all(&p, 1);
    bench_emit(name, dt / (double)n * 1e6, "us",
               "n=%ld 8-byte mp_conn_send_bytes/mp_conn_recv_bytes_into round "
               "trip; %s",
               n, how);
}

/* pipe_pingpong: over one duplex Pipe, then over two simplex ones. */
static void
wl_pipe_pingpong(void)
{
    mp_conn_t *a = NULL, *b = NULL, *r1 = NULL, *w1 = NULL, *r2 = NULL,
              *w2 = NULL;

    check(mp_pipe(&a, &b, true), "mp_pipe");
    struct pingpong duplex = {b, b, 0};
    pingpong_run("pipe_pingpong",
                 "mp_pipe(duplex=true) = AF_UNIX SOCK_STREAM socketpair", a, a,
                 &duplex);
    mp_conn_destroy(a);
    mp_conn_destroy(b);

    check(mp_pipe(&r1, &w1, false), "mp_pipe"); /* parent -> child */
    check(mp_pipe(&r2, &w2, false), "mp_pipe"); /* child -> parent */
    struct pingpong simplex = {r1, w2, 0};
    pingpong_run("pipe_pingpong_simplex",
                 "2x mp_pipe(duplex=false) = one-way socketpairs", r2, w1,
                 &simplex);
    mp_conn_destroy(r1);
    mp_conn_destroy(w1);
    mp_conn_destroy(r2);
    mp_conn_destroy(w2);
}

/* What the sink child of pipe_throughput_large shares with the parent:
 * res[0] is its finish time, res[1] the bytes it received (a RawArray). */
struct sink {
    mp_conn_t *rd;
    double *res;
    long n;
    size_t size; /* of each message */
};

/* Child of pipe_throughput_large: receives n messages into one buffer. */
static int
pipe_sink(void *arg)
{
    const struct sink *s = arg;
    char *buf = bench_payload(s->size);
    double total = 0;

    for (long i = 0; i < s->n; i++) {
        ssize_t len =
            mp_conn_recv_bytes_into(s->rd, buf, s->size, MP_WAIT_FOREVER);

        if (len < 0) {
            return 1;
        }
        total += (double)len;
    }
    s->res[0] = bench_now();
    s->res[1] = total;
    free(buf);
    return 0;
}

/* pipe_throughput_large: 1 MiB (--size) messages over a simplex Pipe to a
 * child. */
static void
wl_pipe_throughput_large(void)
{
    struct sink s = {.n = scaled_sized(N_PIPE_LARGE, 2), .size = g_size};
    mp_conn_t *w = NULL;
    mp_array_t *res = NULL;
    char size[32];

    check(mp_pipe(&s.rd, &w, false), "mp_pipe");
    check(mp_raw_array_create(&res, MP_TYPE_DOUBLE, 2, NULL),
          "mp_raw_array_create");
    s.res = mp_array_ptr(res);
    mp_process_t *p = spawn(pipe_sink, &s);
    char *payload = bench_payload(g_size);
    double t0 = bench_now();
    for (long i = 0; i < s.n; i++) {
        check(mp_conn_send_bytes(w, payload, g_size, MP_WAIT_FOREVER),
              "mp_conn_send_bytes");
    }
    join_all(&p, 1);
    double dt = s.res[0] - t0;
    bench_emit("pipe_throughput_large", s.res[1] / dt / 1e6, "MB/s",
               "n=%ld %s mp_conn_send_bytes/mp_conn_recv_bytes_into over "
               "mp_pipe(duplex=false); %.2fs",
               s.n, bench_size_text(g_size, size, sizeof size), dt);
    free(payload);
    mp_array_destroy(res);
    mp_conn_destroy(s.rd);
    mp_conn_destroy(w);
}

/*----- queues -------------------------------------------------------------*/

/* Maker of the queue a throughput run uses. */
typedef int (*queue_maker_fn)(mp_queue_t **out);

/* What the producers and consumers of one queue run share: worker k
 * reports res[3k] (producer: start after the barrier; consumer: time of
 * its last message), res[3k+1] (messages) and res[3k+2] (bytes received)
 * in a RawArray. Consumers are workers 0 .. ncons-1. */
struct qrun {
    mp_queue_t *q;
    mp_barrier_t *barrier;
    double *res;
    size_t size;
    long per; /* messages per producer */
    int next; /* worker index, set by the parent before each start */
    bool zc;  /* zero-copy: put_begin/commit, get_begin/release */
};

/* Puts one size-byte payload: copied by mp_queue_put, or (zc) written
 * into a borrowed slot (the producer's one write of the data) and
 * committed. Returns 0 or an error. */
static int
q_put_one(const struct qrun *r, const char *payload)
{
    if (!r->zc) {
        return mp_queue_put(r->q, payload, r->size, MP_WAIT_FOREVER);
    }
    void *slot;
    int rc = mp_queue_put_begin(r->q, r->size, &slot, MP_WAIT_FOREVER);
    if (rc != 0) {
        return rc;
    }
    memcpy(slot, payload, r->size);
    return mp_queue_put_commit(r->q, slot, r->size, MP_WAIT_FOREVER);
}

/* Gets one message: copied into buf, or (zc) read where it lies (one word
 * of every 64-byte line summed into *sum, so each line reaches this CPU)
 * and released. Returns its length or an error. */
static ssize_t
q_get_one(const struct qrun *r, char *buf, unsigned long *sum)
{
    if (!r->zc) {
        return mp_queue_get_into(r->q, buf, r->size, MP_WAIT_FOREVER);
    }
    void *msg;
    ssize_t len = mp_queue_get_begin(r->q, &msg, MP_WAIT_FOREVER);
    if (len < 0) {
        return len;
    }
    for (ssize_t i = 0; i + 8 <= len; i += 64) {
        unsigned long w;
        memcpy(&w, (const char *)msg + i, sizeof w);
        *sum += w;
    }
    int rc = mp_queue_get_release(r->q, msg);
    return rc != 0 ? rc : len;
}

/* Producer: per puts of one size-byte payload after the barrier. */
static int
q_producer(void *arg)
{
    const struct qrun *r = arg;
    int k = r->next;
    char *payload = bench_payload(r->size);

    if (mp_barrier_wait(r->barrier, JOIN_TIMEOUT_MS) < 0) {
        return 1;
    }
    double t0 = bench_now();
    for (long i = 0; i < r->per; i++) {
        if (q_put_one(r, payload) != 0) {
            return 1;
        }
    }
    r->res[3 * k] = t0;
    r->res[3 * k + 1] = (double)r->per;
    free(payload);
    return 0;
}

/* Consumer: gets into one reused buffer until the empty message (our
 * stand-in for py_bench's None), noting the time of each real one. */
static int
q_consumer(void *arg)
{
    const struct qrun *r = arg;
    int k = r->next;
    char *buf = bench_payload(r->size);
    long count = 0;
    double nbytes = 0;
    unsigned long sum = 0;

    if (mp_barrier_wait(r->barrier, JOIN_TIMEOUT_MS) < 0) {
        return 1;
    }
    double t_last = bench_now();
    for (;;) {
        ssize_t len = q_get_one(r, buf, &sum);

        if (len < 0) {
            return 1;
        }
        if (len == 0) {
            break;
        }
        count++;
        nbytes += (double)len;
        t_last = bench_now();
    }
    r->res[3 * k] = t_last;
    r->res[3 * k + 1] = (double)count;
    r->res[3 * k + 2] = nbytes;
    free(buf);
    return sum == 1 ? 2 : 0; /* keeps the zero-copy reads */
}

/* py_bench's queue_run: nprod producers put n_total / nprod size-byte
 * messages each into a fresh queue from make, ncons consumers get them
 * (zc: without copies, see q_put_one); the span runs from the first
 * producer's start to the last consumer's last message. Stores msg/s in
 * *rate, bytes/s in *bps, the span in *dt. */
static void
queue_run(queue_maker_fn make, int nprod, int ncons, long n_total, size_t size,
          bool zc, double *rate, double *bps, double *dt)
{
    struct qrun r = {.size = size, .per = n_total / nprod, .zc = zc};
    mp_array_t *res = NULL;
    mp_process_t *ps[32];
    int nw = nprod + ncons;

    check(make(&r.q), "queue create");
    check(mp_barrier_create(&r.barrier, (unsigned)nw, NULL),
          "mp_barrier_create");
    check(mp_raw_array_create(&res, MP_TYPE_DOUBLE, (size_t)(3 * nw), NULL),
          "mp_raw_array_create");
    r.res = mp_array_ptr(res);
    for (int k = 0; k < nw; k++) {
        r.next = k; /* the child's copy of r keeps this index */
        ps[k] = spawn(k < ncons ? q_consumer : q_producer, &r);
        bench_pin(mp_process_pid(ps[k]), k);
    }
    join_all(ps + ncons, (size_t)nprod); /* all data is in the queue */
    for (int k = 0; k < ncons; k++) {
        check(mp_queue_put(r.q, "", 0, MP_WAIT_FOREVER), "mp_queue_put");
    }
    join_all(ps, (size_t)ncons);
    double got, nbytes;
    bench_queue_totals(r.res, nprod, ncons, dt, &got, &nbytes);
    if (got != (double)(r.per * nprod)) {
        fprintf(stderr, "mp_bench: lost messages: %.0f != %ld\n", got,
                r.per * nprod);
        exit(3);
    }
    *rate = got / *dt;
    *bps = nbytes / *dt;
    mp_array_destroy(res);
    mp_barrier_destroy(r.barrier);
    mp_queue_destroy(r.q);
}

/* Makes an unbounded Queue(). */
static int
make_queue(mp_queue_t **out)
{
    return mp_queue_create(out, NULL);
}

/* Makes a Queue(maxsize=4): 64 MiB messages would fill the 1 GiB data
 * area of an unbounded queue whose producer runs ahead. */
static int
make_queue4(mp_queue_t **out)
{
    mp_queue_opts_t opts = MP_QUEUE_OPTS_INIT;
    opts.maxsize = 4;

    return mp_queue_create(out, &opts);
}

/* Emits one run of 64-byte messages per (producers, consumers) shape, or
 * one of --procs producers and consumers when that is given. */
static void
small_runs(const char *prefix, queue_maker_fn make, const char *how,
           const int (*shapes)[2], size_t nshapes)
{
    long n = scaled(N_QUEUE_SMALL, 10);
    const int procs_shape[][2] = {{(int)g_procs, (int)g_procs}};

    if (g_procs > 0) {
        shapes = procs_shape;
        nshapes = 1;
    }
    for (size_t i = 0; i < nshapes; i++) {
        double rate, bps, dt;
        char name[96];

        queue_run(make, shapes[i][0], shapes[i][1], n, 64, false, &rate, &bps,
                  &dt);
        snprintf(name, sizeof name, "%s_%dp%dc", prefix, shapes[i][0],
                 shapes[i][1]);
        bench_emit(name, rate, "msg/s",
                   "n=%ld 64B payload; %s; get_into; %.2fs", n, how, dt);
    }
}

/* Emits one run of 1p1c size-byte messages in MB/s (zc: zero-copy). */
static void
large_run(const char *name, queue_maker_fn make, const char *how, long n,
          size_t size, bool zc)
{
    double rate, bps, dt;

    char text[32];

    queue_run(make, 1, 1, n, size, zc, &rate, &bps, &dt);
    bench_emit(name, bps / 1e6, "MB/s", "n=%ld %s payload 1p1c; %s; %s; %.2fs",
               n, bench_size_text(size, text, sizeof text), how,
               zc ? "put_begin+memcpy+commit, get_begin+read a word a "
                    "line+release"
                  : "get_into",
               dt);
}

/* py_bench's (producers, consumers) shapes of the small-message runs. */
static const int PY_SHAPES[][2] = {{1, 1}, {2, 2}};

/* queue_throughput_small: 64 B messages through a Queue, 1p1c and 2p2c. */
static void
wl_queue_throughput_small(void)
{
    small_runs("queue_throughput_small", make_queue, "mp_queue_create",
               PY_SHAPES, 2);
}

/* queue_throughput_large: 1 MiB (--size) messages through a Queue, 1p1c. */
static void
wl_queue_throughput_large(void)
{
    large_run("queue_throughput_large", make_queue, "mp_queue_create",
              scaled_sized(N_QUEUE_LARGE, 2), g_size, false);
}

/* queue_throughput_large_zerocopy (not in py_bench: Python has no
 * zero-copy queue): as queue_throughput_large, the producer writing each
 * message into a borrowed slot and the consumer reading it in place. */
static void
wl_queue_throughput_large_zerocopy(void)
{
    large_run("queue_throughput_large_zerocopy", make_queue, "mp_queue_create",
              scaled_sized(N_QUEUE_LARGE, 2), g_size, true);
}

/* simplequeue_throughput_small: as queue_throughput_small, SimpleQueue. */
static void
wl_simplequeue_throughput_small(void)
{
    small_runs("simplequeue_throughput_small", mp_simple_queue_create,
               "mp_simple_queue_create", PY_SHAPES, 2);
}

/* simplequeue_throughput_large: as queue_throughput_large, SimpleQueue. */
static void
wl_simplequeue_throughput_large(void)
{
    large_run("simplequeue_throughput_large", mp_simple_queue_create,
              "mp_simple_queue_create", scaled_sized(N_QUEUE_LARGE, 2), g_size,
              false);
}

/* queue_throughput_small_8p8c (not in py_bench): 8 producers, 8
 * consumers, 64 B messages; with --procs queue_throughput_small runs that
 * shape instead, and this one nothing. */
static void
wl_queue_throughput_8p8c(void)
{
    static const int shape[][2] = {{8, 8}};

    if (g_procs > 0) {
        return;
    }

    small_runs("queue_throughput_small", make_queue, "mp_queue_create", shape,
               1);
}

/* queue_throughput_64mib (not in py_bench): 64 MiB messages, 1p1c. */
static void
wl_queue_throughput_64mib(void)
{
    large_run("queue_throughput_64mib", make_queue4,
              "mp_queue_create(maxsize=4)", scaled(N_QUEUE_HUGE, 2), 64 * MIB,
              false);
}

/* What the consumers of joinablequeue share with the parent. */
struct jq {
    mp_queue_t *q;
    mp_barrier_t *barrier;
};

/* Consumer of joinablequeue: get + task_done until the empty message. */
static int
jq_consumer(void *arg)
{
    const struct jq *j = arg;
    long x;

    if (mp_barrier_wait(j->barrier, JOIN_TIMEOUT_MS) < 0) {
        return 1;
    }
    for (;;) {
        ssize_t len = mp_queue_get_into(j->q, &x, sizeof x, MP_WAIT_FOREVER);

        if (len < 0 || mp_queue_task_done(j->q) != 0) {
            return 1;
        }
        if (len == 0) {
            return 0;
        }
    }
}

/* joinablequeue: the parent puts n long tasks and joins the queue while
 * 1, then 2, consumers get and task_done them. */
static void
wl_joinablequeue(void)
{
    long n = scaled(N_JOINABLE, 10);

    for (int nc = 1; nc <= 2; nc++) {
        struct jq j = {0};
        mp_process_t *ps[2];
        char name[32];

        check(mp_joinable_queue_create(&j.q, 0), "mp_joinable_queue_create");
        check(mp_barrier_create(&j.barrier, (unsigned)nc + 1, NULL),
              "mp_barrier_create");
        for (int k = 0; k < nc; k++) {
            ps[k] = spawn(jq_consumer, &j);
        }
        check(mp_barrier_wait(j.barrier, JOIN_TIMEOUT_MS), "mp_barrier_wait");
        double t0 = bench_now();
        for (long i = 0; i < n; i++) {
            check(mp_queue_put(j.q, &i, sizeof i, MP_WAIT_FOREVER),
                  "mp_queue_put");
        }
        check(mp_queue_join(j.q, JOIN_TIMEOUT_MS), "mp_queue_join");
        double dt = bench_now() - t0;
        for (int k = 0; k < nc; k++) {
            check(mp_queue_put(j.q, "", 0, MP_WAIT_FOREVER), "mp_queue_put");
        }
        join_all(ps, (size_t)nc);
        mp_barrier_destroy(j.barrier);
        mp_queue_destroy(j.q);
        snprintf(name, sizeof name, "joinablequeue_1p%dc", nc);
        bench_emit(
            name, (double)n / dt, "tasks/s",
            "n=%ld long tasks; parent puts all + mp_queue_join; consumers "
            "get_into+task_done",
            n);
    }
}

/*----- pools --------------------------------------------------------------*/

/* py_bench's square: one long in, its square out. */
static int
sq_task(const void *in, size_t in_len, mp_pool_out_t *out)
{
    long x;

    if (in_len != sizeof x) {
        return 1;
    }
    memcpy(&x, in, sizeof x);
    x *= x;
    return mp_pool_out_write(out, &x, sizeof x);
}

/* The most workers of a pool here (--workers). */
#define MAX_WORKERS 64

/* Returns a new pool of processes workers (py_bench's Pool(processes)),
 * worker k pinned as role k (bench_pin). */
static mp_pool_t *
pool_of(int processes)
{
    mp_pool_opts_t opts = MP_POOL_OPTS_INIT;
    opts.processes = processes;
    mp_pool_t *pool = NULL;
    mp_pool_stats_t st;
    mp_pool_worker_info_t w[MAX_WORKERS];

    check(mp_pool_create(&pool, &opts), "mp_pool_create");
    int nw =
        (int)check(mp_pool_stats(pool, &st, w, MAX_WORKERS), "mp_pool_stats");
    for (int k = 0; k < nw; k++) {
        if (w[k].pid > 0) {
            bench_pin(w[k].pid, k);
        }
    }
    return pool;
}

/* Returns a new pool of two workers (py_bench's Pool(2)). */
static mp_pool_t *
pool2(void)
{
    return pool_of(2);
}

/* Closes, joins and frees pool. */
static void
pool_finish(mp_pool_t *pool)
{
    check(mp_pool_close(pool), "mp_pool_close");
    check(mp_pool_join(pool, JOIN_TIMEOUT_MS), "mp_pool_join");
    mp_pool_destroy(pool);
}

/* Maps sq_task over 0 .. n-1 with chunksize cs; exits unless every square
 * came back. */
static void
map_squares(mp_pool_t *pool, long n, size_t cs)
{
    long *in = bench_range_longs(n);
    long *out = bench_big_array((size_t)n * sizeof(long));

    check(mp_pool_map(pool, sq_task, in, sizeof(long), (size_t)n, cs, out,
                      sizeof(long), NULL, JOIN_TIMEOUT_MS),
          "mp_pool_map");
    if (out[n - 1] != (n - 1) * (n - 1)) {
        fprintf(stderr, "mp_bench: pool map: wrong result\n");
        exit(3);
    }
    bench_big_array_free(in, (size_t)n * sizeof(long));
    bench_big_array_free(out, (size_t)n * sizeof(long));
}

/* The floor under any Pool(2) start on this machine: a thread forks two
 * children, which wait for their pipe to close and exit; the caller
 * closes it once both are forked, and the thread reaps them. */
struct fork_floor {
    int pipe[2];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool forked;
};

static void *
fork_floor_thread(void *arg)
{
    struct fork_floor *f = arg;
    pid_t kids[2];

    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] < 0) {
            perror("mp_bench: fork");
            exit(2);
        }
        if (kids[k] == 0) {
            char c;

            close(f->pipe[1]);
            while (read(f->pipe[0], &c, 1) > 0) {
            }
            _exit(0);
        }
    }
    pthread_mutex_lock(&f->mu);
    f->forked = true;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    for (int k = 0; k < 2; k++) {
        while (waitpid(kids[k], NULL, 0) < 0 && errno == EINTR) {
        }
    }
    return NULL;
}

/* One fork_floor cycle. */
static void
fork_floor_cycle(void)
{
    struct fork_floor f = {.forked = false};
    pthread_t t;

    if (pipe(f.pipe) != 0) {
        perror("mp_bench: pipe");
        exit(2);
    }
    pthread_mutex_init(&f.mu, NULL);
    pthread_cond_init(&f.cv, NULL);
    if (pthread_create(&t, NULL, fork_floor_thread, &f) != 0) {
        fprintf(stderr, "mp_bench: pthread_create failed\n");
        exit(2);
    }
    pthread_mutex_lock(&f.mu);
    while (!f.forked) {
        pthread_cond_wait(&f.cv, &f.mu);
    }
    pthread_mutex_unlock(&f.mu);
    close(f.pipe[1]);
    pthread_join(t, NULL);
    close(f.pipe[0]);
    pthread_cond_destroy(&f.cv);
    pthread_mutex_destroy(&f.mu);
}

/* pool_startup: Pool(2) create + close + join, sequentially; each cycle
 * is followed by one of the bare floor (pool_startup_fork_floor, ours). */
static void
wl_pool_startup(void)
{
    long n = scaled(N_POOL_STARTUP, 1);
    double pool_s = 0, floor_s = 0;

    for (long i = 0; i < n; i++) {
        double t0 = bench_now();
        pool_finish(pool2());
        double t1 = bench_now();
        fork_floor_cycle();
        pool_s += t1 - t0;
        floor_s += bench_now() - t1;
    }
    bench_emit("pool_startup_close_join", pool_s / (double)n * 1e6, "us",
               "n=%ld mp_pool_create(2) + mp_pool_close + mp_pool_join", n);
    bench_emit("pool_startup_fork_floor", floor_s / (double)n * 1e6, "us",
               "n=%ld bare floor, interleaved with the pool cycles: a thread "
               "forks 2 children that exit when their pipe closes, and reaps "
               "them",
               n);
}

/* pool_startup_first_result: under each start method, Pool(2) create +
 * one apply of sq_task + close + join, sequentially, after one untimed
 * cycle (which starts the forkserver). */
static void
wl_pool_startup_first_result(void)
{
    static const mp_start_method_t methods[] = {
        MP_START_FORK, MP_START_FORKSERVER, MP_START_SPAWN};
    long n = scaled(N_POOL_STARTUP_FIRST, 1);

    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        mp_pool_opts_t opts = MP_POOL_OPTS_INIT;
        opts.processes = 2;
        opts.start_method = methods[m];
        double t0 = 0;

        for (long i = -1; i < n; i++) {
            mp_pool_t *pool = NULL;
            long x = 3, *y = NULL;

            if (i == 0) {
                t0 = bench_now();
            }
            check(mp_pool_create(&pool, &opts), "mp_pool_create");
            ssize_t len = check(mp_pool_apply(pool, sq_task, &x, sizeof x,
                                              (void **)&y, JOIN_TIMEOUT_MS),
                                "mp_pool_apply");
            if (len != (ssize_t)sizeof *y || *y != 9) {
                fprintf(stderr, "mp_bench: wrong pool result\n");
                exit(2);
            }
            mp_free(y);
            pool_finish(pool);
        }
        double dt = bench_now() - t0;
        const char *name = mp_start_method_name(methods[m]);
        char wl[64];

        snprintf(wl, sizeof wl, "pool_startup_first_result_%s", name);
        bench_emit(wl, dt / (double)n * 1e6, "us",
                   "n=%ld %s mp_pool_create(2) + mp_pool_apply + "
                   "mp_pool_close + mp_pool_join",
                   n, name);
    }
}

/* pool_map_trivial: map(x*x) with the default chunksize, then with 1;
 * with --items only the first, of that many items; Pool(--workers). */
static void
wl_pool_map_trivial(void)
{
    /* Chunk size 0: automatic. */
    static const long cs_n[][2] = {{0, N_POOL_MAP}, {1, N_POOL_MAP_CS1}};
    mp_pool_t *pool = pool_of((int)g_workers);

    map_squares(pool, 1000, 0); /* warm-up */
    for (size_t k = 0; k < (g_items > 0 ? 1 : 2); k++) {
        long cs = cs_n[k][0];
        long n = g_items > 0 ? g_items : scaled(cs_n[k][1], 10);
        double t0 = bench_now();
        map_squares(pool, n, (size_t)cs);
        double dt = bench_now() - t0;
        /* AUTO (0): Python's rule, ceil(n / (4 * workers)), cut to 63 KiB
         * of items a chunk. */
        long eff = cs > 0
                       ? cs
                       : (long)mp_pool_chunksize(pool, (size_t)n, sizeof(long));
        bench_emit(
            cs > 0 ? "pool_map_trivial_chunksize1"
                   : "pool_map_trivial_default_chunksize",
            (double)n / dt, "items/s",
            "n=%ld mp_pool_map(x*x) Pool(%ld) chunksize=%s (effective %ld);"
            " in/out arrays: mmap+MADV_POPULATE_WRITE, timed",
            n, g_workers, cs > 0 ? "1" : "AUTO", eff);
    }
    pool_finish(pool);
}

/* pool_imap_unordered_trivial: imap_unordered(x*x), chunksize 1 then 100,
 * every result taken (and freed) as it comes. */
static void
wl_pool_imap_unordered_trivial(void)
{
    static const long cs_n[][2] = {{1, N_POOL_IMAP}, {100, N_POOL_IMAP_CS100}};
    mp_pool_t *pool = pool2();

    map_squares(pool, 1000, 0); /* warm-up */
    for (size_t k = 0; k < 2; k++) {
        long cs = cs_n[k][0], n = scaled(cs_n[k][1], 10), cnt = 0;
        long *in = bench_range_longs(n);
        mp_imap_t *it = NULL;
        void *res = NULL;
        char name[64];
        ssize_t rc;

        double t0 = bench_now();
        check(mp_pool_imap_unordered(pool, sq_task, in, sizeof(long), (size_t)n,
                                     (size_t)cs, &it),
              "mp_pool_imap_unordered");
        while ((rc = mp_imap_next(it, &res, NULL, JOIN_TIMEOUT_MS)) != MP_EOF) {
            check(rc, "mp_imap_next");
            mp_free(res);
            cnt++;
        }
        double dt = bench_now() - t0;
        mp_imap_destroy(it);
        bench_big_array_free(in, (size_t)n * sizeof(long));
        if (cnt != n) {
            fprintf(stderr, "mp_bench: imap_unordered: %ld of %ld\n", cnt, n);
            exit(3);
        }
        snprintf(name, sizeof name,
                 cs == 1 ? "pool_imap_unordered_trivial"
                         : "pool_imap_unordered_trivial_chunksize%ld",
                 cs);
        bench_emit(name, (double)n / dt, "items/s",
                   "n=%ld mp_pool_imap_unordered(x*x) Pool(2) chunksize=%ld%s;"
                   " input array: mmap+MADV_POPULATE_WRITE, timed",
                   n, cs, cs == 1 ? " (the default)" : "");
    }
    pool_finish(pool);
}

/* Runs one apply_async(x*x) and waits for its result. */
static void
apply_once(mp_pool_t *pool, long x)
{
    mp_result_t *r = NULL;
    long y = 0;
    void *out = NULL;

    check(mp_pool_apply_async(pool, sq_task, &x, sizeof x, &r),
          "mp_pool_apply_async");
    if (check(mp_result_get(r, &out, JOIN_TIMEOUT_MS), "mp_result_get") ==
        (ssize_t)sizeof y) {
        memcpy(&y, out, sizeof y);
    }
    if (y != x * x) {
        fprintf(stderr, "mp_bench: apply_async: wrong result\n");
        exit(3);
    }
    mp_free(out);
    mp_result_destroy(r);
}

/* pool_apply_async_roundtrip: apply_async(x*x).get(), one at a time. */
static void
wl_pool_apply_async_roundtrip(void)
{
    long n = scaled(N_APPLY, 10);
    mp_pool_t *pool = pool2();

    for (long i = 0; i < 200; i++) {
        apply_once(pool, i);
    }
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        apply_once(pool, i);
    }
    double dt = bench_now() - t0;
    pool_finish(pool);
    bench_emit("pool_apply_async_roundtrip", dt / (double)n * 1e6, "us",
               "n=%ld mp_pool_apply_async(x*x) + mp_result_get one at a time, "
               "Pool(2)",
               n);
}

/* A slow trivial task: sleeps SLOW_ITEM_US, then writes nothing. */
static int
slow_task(const void *in, size_t in_len, mp_pool_out_t *out)
{
    const struct timespec ts = {0, SLOW_ITEM_US * 1000};

    (void)in;
    (void)in_len;
    (void)out;
    nanosleep(&ts, NULL);
    return 0;
}

/* Sleeps about 100 us (the parent's polling step). */
static void
nap(void)
{
    const struct timespec ts = {0, 100000};

    nanosleep(&ts, NULL);
}

/* pool_map_worker_killed (not in py_bench): a map of slow items, chunksize
 * 1, during which one busy worker is SIGKILLed once a quarter of the items
 * is done; measures until the map returns (the killed item fails with
 * MP_EWORKER, the others complete). */
static void
wl_pool_map_worker_killed(void)
{
    long n = scaled(N_POOL_KILLED, 20);
    int *status = (int *)(void *)bench_payload((size_t)n * sizeof(int));
    mp_pool_t *pool = pool2();
    mp_result_t *r = NULL;
    mp_pool_stats_t st;
    mp_pool_worker_info_t w[2];
    pid_t victim = 0;
    long failed = 0;

    double t0 = bench_now();
    check(mp_pool_map_async(pool, slow_task, NULL, 0, (size_t)n, 1, NULL, NULL,
                            0, status, &r),
          "mp_pool_map_async");
    /* Polls (this is no test): kills the first busy worker seen after a
     * quarter of the items are done. */
    while (victim == 0) {
        int nw = (int)check(mp_pool_stats(pool, &st, w, 2), "mp_pool_stats");

        for (int k = 0; k < nw && st.done >= (uint64_t)n / 4; k++) {
            if (w[k].state == MP_POOL_WORKER_BUSY && w[k].pid > 0) {
                victim = w[k].pid;
                break;
            }
        }
        if (victim == 0) {
            nap();
        }
    }
    double t_kill = bench_now();
    kill(victim, SIGKILL);
    int rc = mp_result_wait(r, JOIN_TIMEOUT_MS);
    double t1 = bench_now();
    check(rc, "mp_result_wait");
    for (long i = 0; i < n; i++) {
        failed += status[i] != 0;
        if (status[i] != 0 && status[i] != MP_EWORKER) {
            check(status[i], "pool_map_worker_killed item");
        }
    }
    mp_result_destroy(r);
    pool_finish(pool);
    free(status);
    bench_emit(
        "pool_map_worker_killed", (t1 - t0) * 1e3, "ms",
        "n=%ld items of %ld us sleep, Pool(2) mp_pool_map_async chunksize=1, "
        "one busy worker SIGKILLed at 1/4 done; returns %.1f ms after the "
        "kill, %ld item(s) MP_EWORKER, the rest done (Python's Pool.map "
        "hangs forever here)",
        n, SLOW_ITEM_US, (t1 - t_kill) * 1e3, failed);
}

/* Returns the VmRSS of pid in KiB from /proc/<pid>/status, or -1. */
static long
vmrss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

/* Runs this program again with only the workload name, in a fresh
 * process (MP_BENCH_FRESH set), and copies its result lines to stdout. */
static void
rerun_fresh(const char *name)
{
    char exe[4096], cmd[4200], line[1024];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);

    if (len < 0 || memchr(exe, '\'', (size_t)len) != NULL) {
        fprintf(stderr, "mp_bench: %s: cannot re-run myself\n", name);
        exit(2);
    }
    exe[len] = '\0';
    snprintf(cmd, sizeof cmd, "MP_BENCH_FRESH=1 '%s' --only %s", exe, name);
    fflush(stdout);
    FILE *f = popen(cmd, "re");
    if (f == NULL) {
        fprintf(stderr, "mp_bench: %s: popen failed\n", name);
        exit(2);
    }
    while (fgets(line, sizeof line, f) != NULL) {
        if (line[0] != '#') {
            fputs(line, stdout);
        }
    }
    if (pclose(f) != 0) {
        fprintf(stderr, "mp_bench: %s: the fresh run failed\n", name);
        exit(2);
    }
    fflush(stdout);
}

/* pool_rss_idle_worker (not in py_anchor, last in py_bench; its result is
 * rss_idle_pool_worker_kib): the RSS of the idle workers of a Pool(2)
 * after a warm-up map of 1000 items. Measured in a fresh run of this
 * program, as bench/compare's Python probe: workers forked from a parent
 * that ran the big workloads would map (and count) its pages. */
static void
wl_rss_idle_pool_worker(void)
{
    if (getenv("MP_BENCH_FRESH") == NULL) {
        rerun_fresh("pool_rss_idle_worker");
        return;
    }
    mp_pool_t *pool = pool2();
    mp_pool_worker_info_t w[2];
    mp_pool_stats_t st;
    long sum = 0, lo = -1, hi = -1;
    int nw;

    map_squares(pool, 1000, 0);
    nw = (int)check(mp_pool_stats(pool, &st, w, 2), "mp_pool_stats");
    for (int k = 0; k < nw; k++) {
        long kib = vmrss_kib(w[k].pid);

        if (w[k].pid <= 0 || kib < 0) {
            fprintf(stderr, "mp_bench: no VmRSS for worker %d\n", k);
            exit(3);
        }
        sum += kib;
        lo = lo < 0 || kib < lo ? kib : lo;
        hi = kib > hi ? kib : hi;
    }
    pool_finish(pool);
    bench_emit("rss_idle_pool_worker_kib", (double)sum / nw, "KiB",
               "mean VmRSS of %d idle Pool(2) workers after a 1000-item map "
               "(min %ld, max %ld KiB)",
               nw, lo, hi);
}

/*----- two workers on one lock --------------------------------------------*/

/* What each of the two workers of a lock workload shares with the parent:
 * times[2k] and times[2k+1] are worker k's start and finish (a RawArray). */
struct duo {
    mp_barrier_t *barrier;
    mp_lock_t *lock;
    mp_value_t *value; /* value_increment_locked only */
    double *times;
    long n;
    int next; /* worker index, set by the parent before each start */
};

/* Worker of lock_contention: n x acquire+release after the barrier. */
static int
lock_worker(void *arg)
{
    struct duo *d = arg;
    int k = d->next;

    if (mp_barrier_wait(d->barrier, JOIN_TIMEOUT_MS) < 0) {
        return 1;
    }
    d->times[2 * k] = bench_now();
    for (long i = 0; i < d->n; i++) {
        if (mp_lock_acquire(d->lock, MP_WAIT_FOREVER) != 0 ||
            mp_lock_release(d->lock) != 0) {
            return 1;
        }
    }
    d->times[2 * k + 1] = bench_now();
    return 0;
}

/* Worker of value_increment_locked: n x "with v.get_lock(): v.value += 1". */
static int
value_worker(void *arg)
{
    struct duo *d = arg;
    int k = d->next;
    mp_lock_t *lock = mp_value_get_lock(d->value);
    volatile int *v = mp_value_ptr(d->value);

    if (mp_barrier_wait(d->barrier, JOIN_TIMEOUT_MS) < 0) {
        return 1;
    }
    d->times[2 * k] = bench_now();
    for (long i = 0; i < d->n; i++) {
        if (mp_lock_acquire(lock, MP_WAIT_FOREVER) != 0) {
            return 1;
        }
        *v += 1;
        if (mp_lock_release(lock) != 0) {
            return 1;
        }
    }
    d->times[2 * k + 1] = bench_now();
    return 0;
}

/* Runs target in two children lined up on a barrier; stores the span from
 * the first start to the last finish in *span and their overlap in percent
 * in *overlap_pct. */
static void
run_duo(struct duo *d, mp_target_fn target, double *span, double *overlap_pct)
{
    mp_array_t *times = NULL;
    mp_process_t *ps[2];

    check(mp_barrier_create(&d->barrier, 2, NULL), "mp_barrier_create");
    check(mp_raw_array_create(&times, MP_TYPE_DOUBLE, 4, NULL),
          "mp_raw_array_create");
    d->times = mp_array_ptr(times);
    for (int k = 0; k < 2; k++) {
        d->next = k; /* the child's copy of *d keeps this index */
        ps[k] = spawn(target, d);
        bench_pin(mp_process_pid(ps[k]), k);
    }
    join_all(ps, 2);
    bench_duo_span(d->times, span, overlap_pct);
    mp_array_destroy(times);
    mp_barrier_destroy(d->barrier);
    d->times = NULL;
    d->barrier = NULL;
}

/* lock_contention: two processes hammer one Lock; then the parent alone. */
static void
wl_lock_contention(void)
{
    struct duo d = {0};
    double span, overlap;

    d.n = scaled(N_LOCK, 10);
    check(mp_lock_create(&d.lock), "mp_lock_create");
    run_duo(&d, lock_worker, &span, &overlap);
    bench_emit("lock_contention", 2.0 * (double)d.n / span, "ops/s",
               "n=%ld per process x2 procs; op = mp_lock_acquire+release; "
               "overlap %.0f%%",
               d.n, overlap);

    double t0 = bench_now();
    for (long i = 0; i < d.n; i++) {
        check(mp_lock_acquire(d.lock, MP_WAIT_FOREVER), "mp_lock_acquire");
        check(mp_lock_release(d.lock), "mp_lock_release");
    }
    double dt = bench_now() - t0;
    bench_emit("lock_uncontended", (double)d.n / dt, "ops/s",
               "n=%ld 1 process; mp_lock_acquire+release", d.n);
    mp_lock_destroy(d.lock);
}

/* value_increment_locked: two processes increment one Value('i') under its
 * own lock (an RLock, as Python's). */
static void
wl_value_increment_locked(void)
{
    struct duo d = {0};
    double span, overlap;
    int total = 0;

    d.n = scaled(N_VALUE, 10);
    check(mp_value_create(&d.value, MP_TYPE_INT, NULL, NULL),
          "mp_value_create");
    run_duo(&d, value_worker, &span, &overlap);
    check(mp_value_get(d.value, &total), "mp_value_get");
    if ((long)total != 2 * d.n) {
        fprintf(stderr, "mp_bench: lost increments %d != %ld\n", total,
                2 * d.n);
        exit(3);
    }
    bench_emit(
        "value_increment_locked", 2.0 * (double)d.n / span, "ops/s",
        "n=%ld per process x2; mp_lock_acquire(mp_value_get_lock) ++*ptr "
        "release (RLock); overlap %.0f%%",
        d.n, overlap);
    mp_value_destroy(d.value);
}

/*----- shared memory ------------------------------------------------------*/

/* Creates, closes and unlinks one tracked 4 KiB block. */
static void
shm_cycle(void)
{
    mp_shm_t *s = NULL;

    check(mp_shm_create(&s, NULL, 4096, 0), "mp_shm_create");
    check(mp_shm_unlink(s), "mp_shm_unlink");
    mp_shm_destroy(s);
}

/* shared_memory_create_unlink: SharedMemory(create=True, size=4096) life. */
static void
wl_shared_memory_create_unlink(void)
{
    long n = scaled(N_SHM, 10);

    for (int i = 0; i < 20; i++) { /* warm-up: starts the tracker */
        shm_cycle();
    }
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        shm_cycle();
    }
    double dt = bench_now() - t0;
    bench_emit("shared_memory_create_unlink", dt / (double)n * 1e6, "us",
               "n=%ld mp_shm_create(NULL,4096)+mp_shm_unlink+mp_shm_destroy",
               n);
}

/* shared_memory_copy_large: 1 MiB memcpy into a block, same process. */
static void
wl_shared_memory_copy_large(void)
{
    long n = scaled(N_SHM_COPY, 10);
    mp_shm_t *s = NULL;
    /* Written, so that the source is real pages and not the zero page. */
    char *src = bench_payload(MIB);
    check(mp_shm_create(&s, NULL, MIB, 0), "mp_shm_create");
    char *buf = mp_shm_buf(s);
    for (int i = 0; i < 10; i++) {
        memcpy(buf, src, MIB);
    }
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        memcpy(buf, src, MIB);
        /* Keeps the compiler from merging the copies into one. */
        __asm__ volatile("" ::: "memory");
    }
    double dt = bench_now() - t0;
    check(mp_shm_unlink(s), "mp_shm_unlink");
    mp_shm_destroy(s);
    free(src);
    bench_emit("shared_memory_copy_large", (double)n * (double)MIB / dt / 1e6,
               "MB/s", "n=%ld memcpy of 1 MiB into mp_shm_buf (same process)",
               n);
}

/*----- managers -----------------------------------------------------------*/

/* Starts a manager with the default options. */
static mp_manager_t *
manager_start(void)
{
    mp_manager_t *m = NULL;

    check(mp_manager_create(&m, NULL), "mp_manager_create");
    check(mp_manager_start(m), "mp_manager_start");
    return m;
}

static void
wl_manager_start(void)
{
    long n = scaled(N_MANAGER_START, 1);
    double t0 = bench_now();

    for (long i = 0; i < n; i++) {
        mp_manager_t *m = manager_start();
        check(mp_manager_shutdown(m), "mp_manager_shutdown");
        mp_manager_destroy(m);
    }
    bench_emit("manager_start_shutdown", (bench_now() - t0) / (double)n * 1e6,
               "us", "n=%ld mp_manager_start + mp_manager_shutdown", n);
}

/* The child of manager_dict_ops: py_bench's use_manager_dict. */
struct mgr_dict {
    mp_proxy_t *d;
    long n;
    mp_queue_t *res;
};

static int
mgr_dict_child(void *arg)
{
    struct mgr_dict *a = arg;
    int64_t zero = 0, k, i;
    void *v;

    /* Warm-up, as py_bench (its connection is made on first use). */
    check(mp_dict_set(a->d, &zero, sizeof zero, &zero, sizeof zero),
          "mp_dict_set");
    check(mp_dict_get(a->d, &zero, sizeof zero, &v), "mp_dict_get");
    mp_free(v);
    double t[2];
    t[0] = bench_now();
    for (i = 0; i < a->n; i++) {
        k = i & 1023;
        check(mp_dict_set(a->d, &k, sizeof k, &i, sizeof i), "mp_dict_set");
        check(mp_dict_get(a->d, &k, sizeof k, &v), "mp_dict_get");
        mp_free(v);
    }
    t[1] = bench_now();
    check(mp_queue_put(a->res, t, sizeof t, MP_WAIT_FOREVER), "mp_queue_put");
    return 0;
}

static void
wl_manager_dict_ops(void)
{
    struct mgr_dict a = {.n = scaled(N_MANAGER_DICT, 10)};
    mp_manager_t *m = manager_start();
    double t[2];

    check(mp_manager_dict(m, &a.d), "mp_manager_dict");
    check(mp_simple_queue_create(&a.res), "mp_simple_queue_create");
    mp_process_t *p = spawn(mgr_dict_child, &a);
    join_all(&p, 1);
    check(mp_queue_get_into(a.res, t, sizeof t, MP_WAIT_FOREVER),
          "mp_queue_get_into");
    if (check(mp_dict_len(a.d), "mp_dict_len") != (a.n < 1024 ? a.n : 1024)) {
        fprintf(stderr, "mp_bench: manager dict has the wrong length\n");
        exit(2);
    }
    mp_queue_destroy(a.res);
    mp_proxy_destroy(a.d);
    mp_manager_destroy(m);
    bench_emit("manager_dict_ops", 2.0 * (double)a.n / (t[1] - t[0]), "ops/s",
               "n=%ld set+get pairs from a child (op = one set or one get)",
               a.n);
}

/* The two children of manager_queue_throughput. */
struct mgr_queue {
    mp_proxy_t *q;
    long n;
    mp_barrier_t *barrier;
    mp_queue_t *res;
};

static int
mgr_q_producer(void *arg)
{
    struct mgr_queue *a = arg;
    char msg[64] = {0};

    check(mp_barrier_wait(a->barrier, JOIN_TIMEOUT_MS), "mp_barrier_wait");
    double t0 = bench_now();
    for (long i = 0; i < a->n; i++) {
        check(mp_proxy_put(a->q, msg, sizeof msg, MP_WAIT_FOREVER),
              "mp_proxy_put");
    }
    check(mp_queue_put(a->res, &t0, sizeof t0, MP_WAIT_FOREVER),
          "mp_queue_put");
    return 0;
}

static int
mgr_q_consumer(void *arg)
{
    struct mgr_queue *a = arg;
    void *v;

    check(mp_barrier_wait(a->barrier, JOIN_TIMEOUT_MS), "mp_barrier_wait");
    for (long i = 0; i < a->n; i++) {
        check(mp_proxy_get(a->q, &v, MP_WAIT_FOREVER), "mp_proxy_get");
        mp_free(v);
    }
    double t1 = bench_now();
    check(mp_queue_put(a->res, &t1, sizeof t1, MP_WAIT_FOREVER),
          "mp_queue_put");
    return 0;
}

static void
wl_manager_queue_throughput(void)
{
    struct mgr_queue a = {.n = scaled(N_MANAGER_QUEUE, 10)};
    mp_manager_t *m = manager_start();
    mp_queue_t *res_prod, *res_cons;
    double t0, t1;

    check(mp_manager_queue(m, 0, &a.q), "mp_manager_queue");
    check(mp_barrier_create(&a.barrier, 2, NULL), "mp_barrier_create");
    check(mp_simple_queue_create(&res_prod), "mp_simple_queue_create");
    check(mp_simple_queue_create(&res_cons), "mp_simple_queue_create");
    struct mgr_queue ac = a, ap = a;
    ac.res = res_cons;
    ap.res = res_prod;
    mp_process_t *ps[2] = {spawn(mgr_q_consumer, &ac),
                           spawn(mgr_q_producer, &ap)};
    join_all(ps, 2);
    check(mp_queue_get_into(res_prod, &t0, sizeof t0, MP_WAIT_FOREVER),
          "mp_queue_get_into");
    check(mp_queue_get_into(res_cons, &t1, sizeof t1, MP_WAIT_FOREVER),
          "mp_queue_get_into");
    mp_queue_destroy(res_prod);
    mp_queue_destroy(res_cons);
    mp_barrier_destroy(a.barrier);
    mp_proxy_destroy(a.q);
    mp_manager_destroy(m);
    bench_emit("manager_queue_throughput", (double)a.n / (t1 - t0), "msg/s",
               "n=%ld 64B bytes 1p1c via mp_manager_queue", a.n);
}

/*----- the list -----------------------------------------------------------*/

/* One workload of py_bench.py (or of ours): fn runs it. */
struct workload {
    const char *name;
    void (*fn)(void);
};

/* In py_bench.py's order, then the workloads Python lacks. */
static const struct workload WORKLOADS[] = {
    {"process_start_join", wl_process_start_join},
    {"pipe_pingpong", wl_pipe_pingpong},
    {"pipe_throughput_large", wl_pipe_throughput_large},
    {"queue_throughput_small", wl_queue_throughput_small},
    {"queue_throughput_large", wl_queue_throughput_large},
    {"simplequeue_throughput_small", wl_simplequeue_throughput_small},
    {"simplequeue_throughput_large", wl_simplequeue_throughput_large},
    {"joinablequeue", wl_joinablequeue},
    {"pool_startup", wl_pool_startup},
    {"pool_startup_first_result", wl_pool_startup_first_result},
    {"pool_map_trivial", wl_pool_map_trivial},
    {"pool_imap_unordered_trivial", wl_pool_imap_unordered_trivial},
    {"pool_apply_async_roundtrip", wl_pool_apply_async_roundtrip},
    {"lock_contention", wl_lock_contention},
    {"value_increment_locked", wl_value_increment_locked},
    {"manager_start", wl_manager_start},
    {"manager_dict_ops", wl_manager_dict_ops},
    {"manager_queue_throughput", wl_manager_queue_throughput},
    {"shared_memory_create_unlink", wl_shared_memory_create_unlink},
    {"shared_memory_copy_large", wl_shared_memory_copy_large},
    /* Ours, not py_anchor's (py_bench has the last): after its workloads. */
    {"queue_throughput_small_8p8c", wl_queue_throughput_8p8c},
    {"queue_throughput_64mib", wl_queue_throughput_64mib},
    {"queue_throughput_large_zerocopy", wl_queue_throughput_large_zerocopy},
    {"pool_map_worker_killed", wl_pool_map_worker_killed},
    {"pool_rss_idle_worker", wl_rss_idle_pool_worker},
};
#define N_WORKLOADS (sizeof WORKLOADS / sizeof WORKLOADS[0])

/* Prints the usage line on stderr and returns the exit code 2. */
static int
usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--list] [--only a,b] [--scale F] [--size B] "
            "[--procs K] [--workers W] [--items N]\n",
            argv0);
    return 2;
}

/* Prints the '#' line naming the library, the machine and the scale. */
static void
print_header(void)
{
    char cpu[256] = "?";
    char line[512];
    struct utsname u;
    FILE *f = fopen("/proc/cpuinfo", "re");

    if (f != NULL) {
        while (fgets(line, sizeof line, f) != NULL) {
            const char *colon = strchr(line, ':');

            if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
                colon++;
                colon += strspn(colon, " \t");
                snprintf(cpu, sizeof cpu, "%.*s", (int)strcspn(colon, "\n"),
                         colon);
                break;
            }
        }
        fclose(f);
    }
    if (uname(&u) != 0) {
        snprintf(u.release, sizeof u.release, "?");
    }
    printf("# mp_bench multiproc=%s nproc=%ld cpu=%s kernel=%s scale=%g\n",
           mp_version_string(), sysconf(_SC_NPROCESSORS_ONLN), cpu, u.release,
           g_scale);
    printf("# name\tvalue\tunit\tnotes\n");
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    const char *only = NULL;
    int list = 0;
    struct bench_point pt = {0};

    /* spawn and forkserver children (process_start_join,
     * pool_startup_first_result) boot here. */
    mp_main(argc, argv);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0) {
            list = 1;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc &&
                   bench_positive(argv[i + 1], &g_scale)) {
            i++;
        } else if (!bench_point_arg(argc, argv, &i, &pt)) {
            return usage(argv[0]);
        }
    }
    g_size = pt.size > 0 ? (size_t)pt.size : g_size;
    g_procs = pt.procs;
    g_workers = pt.workers > 0 ? pt.workers : g_workers;
    g_items = pt.items;
    if (list) {
        for (size_t k = 0; k < N_WORKLOADS; k++) {
            puts(WORKLOADS[k].name);
        }
        return 0;
    }
    bench_pin(0, -1); /* MP_BENCH_PIN=split: the parent on the first CPU */
    check(mp_init(), "mp_init");
    print_header();
    for (size_t k = 0; k < N_WORKLOADS; k++) {
        const struct workload *w = &WORKLOADS[k];

        if (!bench_selected(only, w->name)) {
            continue;
        }
        double t0 = bench_now();
        w->fn();
        printf("# %s took %.2fs\n", w->name, bench_now() - t0);
        fflush(stdout);
    }
    mp_shutdown();
    return 0;
}
