/* SPDX-License-Identifier: MIT */
/* peer_common.c - the main, processes and workload harnesses of the
 * bench/peers programs (see peer_common.h). The harnesses follow
 * bench/mp_bench.c's pingpong_run, queue_run and run_duo: same counts,
 * warm-up, barrier, spans and end-of-stream rule. */
#include "peer_common.h"

#include "../bench_util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Seconds one workload may take before SIGALRM ends the program (its
 * children die with it: PR_SET_PDEATHSIG). */
#define PEER_WORKLOAD_LIMIT_S 600

static double g_scale = 1.0;

long
peer_scaled(long n, long lo)
{
    long r = (long)((double)n * g_scale);

    return r < lo ? lo : r;
}

void
peer_die(const char *what, const char *msg)
{
    fprintf(stderr, "peer: %s: %s\n", what, msg);
    exit(2);
}

long
peer_check(long rc, const char *what)
{
    if (rc < 0) {
        peer_die(what, strerror(errno));
    }
    return rc;
}

void *
peer_shared(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        peer_die("mmap", strerror(errno));
    }
    return p;
}

void
peer_unshare(void *p, size_t len)
{
    munmap(p, len);
}

pid_t
peer_fork(int (*fn)(void *arg), void *arg, int role)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();

    if (pid < 0) {
        peer_die("fork", strerror(errno));
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        bench_pin(0, role);
        _exit(fn(arg));
    }
    return pid;
}

void
peer_wait(const pid_t *pids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int status = 0;

        while (waitpid(pids[i], &status, 0) < 0) {
            if (errno != EINTR) {
                peer_die("waitpid", strerror(errno));
            }
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "peer: child %d failed (status 0x%x)\n",
                    (int)pids[i], status);
            exit(2);
        }
    }
}

/* What peer_isolated's child runs. */
struct isolated {
    void (*body)(void *arg);
    void *arg;
};

static int
isolated_main(void *arg)
{
    const struct isolated *is = arg;

    is->body(is->arg);
    fflush(stdout);
    return 0;
}

void
peer_isolated(int isolate, void (*body)(void *arg), void *arg)
{
    struct isolated is = {body, arg};

    if (!isolate) {
        body(arg);
        return;
    }
    pid_t pid = peer_fork(isolated_main, &is, -1);
    peer_wait(&pid, 1);
}

struct peer_barrier {
    pthread_barrier_t b;
};

peer_barrier_t *
peer_barrier_create(unsigned count)
{
    peer_barrier_t *b = peer_shared(sizeof *b);
    pthread_barrierattr_t a;

    pthread_barrierattr_init(&a);
    pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (pthread_barrier_init(&b->b, &a, count) != 0) {
        peer_die("pthread_barrier_init", "failed");
    }
    pthread_barrierattr_destroy(&a);
    return b;
}

void
peer_barrier_wait(peer_barrier_t *b)
{
    pthread_barrier_wait(&b->b);
}

void
peer_barrier_destroy(peer_barrier_t *b)
{
    pthread_barrier_destroy(&b->b);
    peer_unshare(b, sizeof *b);
}

/* Copies "<workload>@<peer>" into name (cap bytes). */
static void
result_name(char *name, size_t cap, const char *workload, const char *peer)
{
    snprintf(name, cap, "%s@%s", workload, peer);
}

/*----- request/reply -------------------------------------------------------*/

struct pp_arg {
    const struct peer_link *link;
    void *shared;
    long total; /* warm-up + timed round trips */
};

/* The echo child: says "ready", then echoes total messages. */
static int
pp_child(void *arg)
{
    const struct pp_arg *a = arg;
    void *h = a->link->attach(a->shared, 1);
    char buf[64];

    if (h == NULL || a->link->send(h, "ready", 5) != 0) {
        return 1;
    }
    for (long i = 0; i < a->total; i++) {
        long len = a->link->recv(h, buf, sizeof buf);

        if (len < 0 || a->link->send(h, buf, (size_t)len) != 0) {
            return 1;
        }
    }
    a->link->detach(h);
    return 0;
}

/* peer_pingpong's run (arg: the link), maybe in a child of its own. */
static void
pingpong_body(void *arg)
{
    const struct peer_link *link = arg;
    static const char msg[8] = {'1', '2', '3', '4', '5', '6', '7', '8'};
    long n = peer_scaled(PEER_N_PINGPONG, 1);
    long warm = n < 2000 ? n : 2000;
    struct pp_arg a = {link, link->open(), warm + n};
    char buf[64], name[128];

    if (a.shared == NULL) {
        peer_die(link->peer, "open failed");
    }
    pid_t pid = peer_fork(pp_child, &a, 0);
    void *h = link->attach(a.shared, 0);
    if (h == NULL || link->recv(h, buf, sizeof buf) != 5 ||
        memcmp(buf, "ready", 5) != 0) {
        peer_die(link->peer, "no ready message");
    }
    double t0 = 0;
    for (long i = -warm; i < n; i++) {
        if (i == 0) {
            t0 = bench_now();
        }
        if (link->send(h, msg, sizeof msg) != 0 ||
            link->recv(h, buf, sizeof buf) != (long)sizeof msg) {
            peer_die(link->peer, "round trip failed");
        }
    }
    double dt = bench_now() - t0;
    link->detach(h);
    peer_wait(&pid, 1);
    link->close(a.shared);
    result_name(name, sizeof name, "pipe_pingpong", link->peer);
    bench_emit(name, dt / (double)n * 1e6, "us",
               "n=%ld 8-byte round trip to an echo child; %s", n, link->how);
}

void
peer_pingpong(const struct peer_link *link)
{
    peer_isolated(link->isolate, pingpong_body, (void *)link);
}

/*----- queues --------------------------------------------------------------*/

/* A consumer's count of messages so far, alone on its cache line (the
 * parent reads it for struct peer_queue's drain). */
struct progress {
    volatile long n;
    char pad[64 - sizeof(long)];
};

/* What the producers and consumers of one run share, as mp_bench's
 * struct qrun: worker k (consumers first) reports res[3k] (producer:
 * start after the barrier; consumer: time of its last message), res[3k+1]
 * (messages) and res[3k+2] (bytes received). */
struct qrun {
    const struct peer_queue *q;
    void *shared;
    peer_barrier_t *barrier;
    double *res;
    struct progress *got; /* got[k]: consumer k's messages so far */
    size_t size;
    long per; /* messages per producer */
    int nprod;
    int ncons;
    int next; /* worker index, set before each fork */
};

/* Waits (1 ms naps) until the ncons consumers of r got want messages. */
static void
await_drained(const struct qrun *r, long want)
{
    const struct timespec nap = {0, 1000000};

    for (;;) {
        long got = 0;

        for (int k = 0; k < r->ncons; k++) {
            got += r->got[k].n;
        }
        if (got >= want) {
            return;
        }
        nanosleep(&nap, NULL);
    }
}

/* Producer k: per puts of one size-byte payload after the barrier. */
static int
q_producer(void *arg)
{
    const struct qrun *r = arg;
    int k = r->next;
    void *h = r->q->attach(r->shared, 1, k - r->ncons);
    char *payload = bench_payload(r->size);

    peer_barrier_wait(r->barrier);
    if (h == NULL) {
        return 1;
    }
    double t0 = bench_now();
    for (long i = 0; i < r->per; i++) {
        if (r->q->put(h, payload, r->size) != 0) {
            return 1;
        }
    }
    r->res[3 * k] = t0;
    r->res[3 * k + 1] = (double)r->per;
    if (r->q->drain) {
        await_drained(r, r->per * r->nprod);
    }
    r->q->detach(h);
    free(payload);
    return 0;
}

/* Consumer k: gets into one reused buffer until the end (a 0-byte get),
 * noting the time of each real message. */
static int
q_consumer(void *arg)
{
    const struct qrun *r = arg;
    int k = r->next;
    void *h = r->q->attach(r->shared, 0, k);
    char *buf = bench_payload(r->size);
    long count = 0;
    double nbytes = 0;

    peer_barrier_wait(r->barrier);
    if (h == NULL) {
        return 1;
    }
    double t_last = bench_now();
    for (;;) {
        long len = r->q->get(h, buf, r->size);

        if (len < 0) {
            return 1;
        }
        if (len == 0) {
            break;
        }
        count++;
        nbytes += (double)len;
        t_last = bench_now();
        r->got[k].n = count;
    }
    r->res[3 * k] = t_last;
    r->res[3 * k + 1] = (double)count;
    r->res[3 * k + 2] = nbytes;
    r->q->detach(h);
    free(buf);
    return 0;
}

/* One queue run's parameters and, once it ran, its results (in memory
 * from peer_shared when the run is isolated). */
struct qparams {
    const struct peer_queue *q;
    int nprod, ncons;
    long n_total;
    size_t size;
    double rate, bps, dt;
};

/* mp_bench's queue_run on p->q: nprod producers put n_total / nprod
 * messages of size bytes each, ncons consumers get them; the span runs
 * from the first producer's start to the last consumer's last message.
 * Stores msg/s in p->rate, bytes/s in p->bps and the span in p->dt. */
static void
queue_body(void *arg)
{
    struct qparams *p = arg;
    const struct peer_queue *q = p->q;
    int nprod = p->nprod, ncons = p->ncons;
    int nw = nprod + ncons;
    size_t size = p->size;
    struct qrun r = {.q = q,
                     .size = size,
                     .per = p->n_total / nprod,
                     .nprod = nprod,
                     .ncons = ncons};
    pid_t ps[16];

    r.shared = q->open(nprod, ncons, size);
    if (r.shared == NULL) {
        peer_die(q->peer, "open failed");
    }
    r.barrier = peer_barrier_create((unsigned)nw);
    r.res = peer_shared((size_t)(3 * nw) * sizeof(double));
    r.got = peer_shared((size_t)ncons * sizeof(struct progress));
    for (int k = 0; k < nw; k++) {
        r.next = k; /* the child's copy of r keeps this index */
        ps[k] = peer_fork(k < ncons ? q_consumer : q_producer, &r, k);
    }
    peer_wait(ps + ncons, (size_t)nprod); /* all data is in the queue */
    for (int k = 0; k < ncons; k++) {
        if (q->end(r.shared, k) != 0) {
            peer_die(q->peer, "end failed");
        }
    }
    peer_wait(ps, (size_t)ncons);
    double got, nbytes;
    bench_queue_totals(r.res, nprod, ncons, &p->dt, &got, &nbytes);
    if (got != (double)(r.per * nprod)) {
        fprintf(stderr, "peer: %s: lost messages: %.0f != %ld\n", q->peer, got,
                r.per * nprod);
        exit(3);
    }
    p->rate = got / p->dt;
    p->bps = nbytes / p->dt;
    peer_unshare(r.got, (size_t)ncons * sizeof(struct progress));
    peer_unshare(r.res, (size_t)(3 * nw) * sizeof(double));
    peer_barrier_destroy(r.barrier);
    q->close(r.shared);
}

/* Runs queue_body on q's shape (isolated when q says so); stores msg/s in
 * *rate, bytes/s in *bps and the span in *dt. */
static void
queue_run(const struct peer_queue *q, int nprod, int ncons, long n_total,
          size_t size, double *rate, double *bps, double *dt)
{
    struct qparams *p = peer_shared(sizeof *p);

    *p = (struct qparams){q, nprod, ncons, n_total, size, 0, 0, 0};
    peer_isolated(q->isolate, queue_body, p);
    *rate = p->rate;
    *bps = p->bps;
    *dt = p->dt;
    peer_unshare(p, sizeof *p);
}

void
peer_queue_small(const struct peer_queue *q, int shapes_2p2c)
{
    long n = peer_scaled(PEER_N_QUEUE_SMALL, 10);

    for (int s = 1; s <= (shapes_2p2c ? 2 : 1); s++) {
        double rate, bps, dt;
        char wl[64], name[128];

        queue_run(q, s, s, n, 64, &rate, &bps, &dt);
        snprintf(wl, sizeof wl, "queue_throughput_small_%dp%dc", s, s);
        result_name(name, sizeof name, wl, q->peer);
        bench_emit(name, rate, "msg/s", "n=%ld 64B payload; %s; %.2fs", n,
                   q->how, dt);
    }
}

void
peer_queue_large(const struct peer_queue *q)
{
    long n = peer_scaled(PEER_N_QUEUE_LARGE, 2);
    double rate, bps, dt;
    char name[128];

    queue_run(q, 1, 1, n, PEER_MIB, &rate, &bps, &dt);
    result_name(name, sizeof name, "queue_throughput_large", q->peer);
    bench_emit(name, bps / 1e6, "MB/s", "n=%ld 1MiB payload 1p1c; %s; %.2fs", n,
               q->how, dt);
}

/*----- locks ---------------------------------------------------------------*/

/* What the two workers of lock_contention share: times[2k], times[2k+1]
 * are worker k's start and finish. */
struct duo {
    const struct peer_lock *l;
    void *mem;
    peer_barrier_t *barrier;
    double *times;
    long n;
    int next;
};

/* Worker k: n x lock+unlock after the barrier. */
static int
lock_worker(void *arg)
{
    const struct duo *d = arg;
    int k = d->next;

    peer_barrier_wait(d->barrier);
    d->times[2 * k] = bench_now();
    for (long i = 0; i < d->n; i++) {
        if (d->l->lock(d->mem) != 0 || d->l->unlock(d->mem) != 0) {
            return 1;
        }
    }
    d->times[2 * k + 1] = bench_now();
    return 0;
}

void
peer_lock_contention(const struct peer_lock *l)
{
    struct duo d = {.l = l, .n = peer_scaled(PEER_N_LOCK, 10)};
    pid_t ps[2];
    char name[128];

    d.mem = peer_shared(l->size);
    if (l->init(d.mem) != 0) {
        peer_die(l->peer, "init failed");
    }
    d.barrier = peer_barrier_create(2);
    d.times = peer_shared(4 * sizeof(double));
    for (int k = 0; k < 2; k++) {
        d.next = k;
        ps[k] = peer_fork(lock_worker, &d, k);
    }
    peer_wait(ps, 2);
    double span, overlap;
    bench_duo_span(d.times, &span, &overlap);
    result_name(name, sizeof name, "lock_contention", l->peer);
    bench_emit(name, 2.0 * (double)d.n / span, "ops/s",
               "n=%ld per process x2 procs; %s; overlap %.0f%%", d.n, l->how,
               overlap);
    peer_unshare(d.times, 4 * sizeof(double));
    peer_barrier_destroy(d.barrier);
    l->fini(d.mem);
    peer_unshare(d.mem, l->size);
}

/*----- main ----------------------------------------------------------------*/

int
peer_main(int argc, char **argv, const char *program,
          const struct peer_workload *list, size_t n)
{
    const char *only = NULL;
    const char *pin = getenv("MP_BENCH_PIN");
    int want_list = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0) {
            want_list = 1;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc &&
                   bench_positive(argv[i + 1], &g_scale)) {
            i++;
        } else {
            fprintf(stderr, "usage: %s [--list] [--only a,b] [--scale F]\n",
                    argv[0]);
            return 2;
        }
    }
    if (want_list) {
        for (size_t k = 0; k < n; k++) {
            puts(list[k].name);
        }
        return 0;
    }
    bench_pin(0, -1);
    printf("# %s nproc=%ld scale=%g pin=%s\n", program,
           sysconf(_SC_NPROCESSORS_ONLN), g_scale, pin != NULL ? pin : "");
    printf("# name\tvalue\tunit\tnotes\n");
    fflush(stdout);
    for (size_t k = 0; k < n; k++) {
        if (!bench_selected(only, list[k].name)) {
            continue;
        }
        double t0 = bench_now();
        alarm(PEER_WORKLOAD_LIMIT_S);
        list[k].fn();
        alarm(0);
        printf("# %s took %.2fs\n", list[k].name, bench_now() - t0);
        fflush(stdout);
    }
    return 0;
}

/* The transports of peer_transport_main, for its workloads. */
static const struct peer_link *g_link;
static const struct peer_queue *g_small, *g_large;
static int g_small_2p2c;

static void
wl_pipe_pingpong(void)
{
    peer_pingpong(g_link);
}

static void
wl_queue_throughput_small(void)
{
    peer_queue_small(g_small, g_small_2p2c);
}

static void
wl_queue_throughput_large(void)
{
    peer_queue_large(g_large);
}

int
peer_transport_main(int argc, char **argv, const char *program,
                    const struct peer_link *link,
                    const struct peer_queue *small, int small_1p1c_only,
                    const struct peer_queue *large)
{
    struct peer_workload list[3];
    size_t n = 0;

    g_link = link;
    g_small = small;
    g_small_2p2c = !small_1p1c_only;
    g_large = large;
    if (link != NULL) {
        list[n++] = (struct peer_workload){"pipe_pingpong", wl_pipe_pingpong};
    }
    if (small != NULL) {
        list[n++] = (struct peer_workload){"queue_throughput_small",
                                           wl_queue_throughput_small};
    }
    if (large != NULL) {
        list[n++] = (struct peer_workload){"queue_throughput_large",
                                           wl_queue_throughput_large};
    }
    return peer_main(argc, argv, program, list, n);
}
