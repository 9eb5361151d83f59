/* SPDX-License-Identifier: MIT */
/* forkpipe_pool.c - the worker pool C programmers write by hand today,
 * measured on mp_bench's pool workloads: fork N workers, one pipe pair
 * each (tasks down, results up), chunks dispatched round robin and results
 * collected in dispatch order, as many chunks in flight per worker as its
 * result pipe holds (enlarged to FP_PIPE_BYTES with F_SETPIPE_SZ, so that a
 * worker never blocks on a result while the parent blocks on its task
 * pipe). No crash safety: a dead worker ends the program. Prints
 * pool_map_trivial_default_chunksize, pool_map_trivial_chunksize1 and
 * pool_apply_async_roundtrip, each @forkpipe_pool. */
#include "peer_common.h"

#include "../bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FP_WORKERS 2
/* The pipes' size (F_SETPIPE_SZ; 1 MiB is the unprivileged maximum). */
#define FP_PIPE_BYTES (256 * 1024)
/* The default chunk: Python's rule, ceil(n / (4 x workers)) items, cut to
 * what fits one default pipe buffer (64 KiB) of items. */
#define FP_CHUNK_BYTES_MAX 65536

/* A task or result message: this header, then count longs. */
struct fp_hdr {
    long start; /* index of the first item */
    long count;
};

struct fp_worker {
    pid_t pid;
    int task_wr; /* the parent's end of the task pipe */
    int res_rd;  /* the parent's end of the result pipe */
    long inflight;
};

struct fp_pool {
    struct fp_worker w[FP_WORKERS];
    size_t res_cap; /* the smallest result pipe's size in bytes */
    long next;      /* round robin: the worker of the next apply */
};

/* Reads len bytes; returns 0, 1 at end of file before the first byte, -1
 * on an error or a short message. */
static int
read_full(int fd, void *p, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t r = read(fd, (char *)p + got, len - got);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return r == 0 && got == 0 ? 1 : -1;
        }
        got += (size_t)r;
    }
    return 0;
}

/* Writes len bytes; returns 0 or -1. */
static int
write_full(int fd, const void *p, size_t len)
{
    size_t put = 0;

    while (put < len) {
        ssize_t r = write(fd, (const char *)p + put, len - put);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -1;
        }
        put += (size_t)r;
    }
    return 0;
}

/* What a worker gets: its two pipe ends, and the pool to close the
 * parent's ends of every worker forked so far. */
struct fp_start {
    struct fp_pool *pool;
    int k;
    int task_rd;
    int res_wr;
};

/* A worker: squares each chunk it reads and writes it back, until the
 * task pipe's end of file. */
static int
fp_worker_main(void *arg)
{
    const struct fp_start *s = arg;
    struct fp_hdr h;
    long *buf = NULL;
    long cap = 0;
    int rc;

    for (int j = 0; j <= s->k; j++) {
        close(s->pool->w[j].task_wr);
        close(s->pool->w[j].res_rd);
    }
    while ((rc = read_full(s->task_rd, &h, sizeof h)) == 0) {
        if (h.count > cap) {
            free(buf);
            cap = h.count;
            buf = malloc((size_t)(cap + 2) * sizeof(long));
            if (buf == NULL) {
                return 1;
            }
        }
        if (read_full(s->task_rd, buf + 2, (size_t)h.count * sizeof(long)) !=
            0) {
            return 1;
        }
        for (long i = 0; i < h.count; i++) {
            buf[2 + i] *= buf[2 + i];
        }
        buf[0] = h.start;
        buf[1] = h.count;
        if (write_full(s->res_wr, buf, (size_t)(h.count + 2) * sizeof(long)) !=
            0) {
            return 1;
        }
    }
    free(buf);
    return rc == 1 ? 0 : 1;
}

/* Starts the pool's FP_WORKERS workers, worker k pinned as role k. */
static void
fp_create(struct fp_pool *p)
{
    memset(p, 0, sizeof *p);
    p->res_cap = (size_t)-1;
    for (int k = 0; k < FP_WORKERS; k++) {
        int task[2], res[2];

        peer_check(pipe2(task, O_CLOEXEC), "pipe2");
        peer_check(pipe2(res, O_CLOEXEC), "pipe2");
        (void)fcntl(task[1], F_SETPIPE_SZ, FP_PIPE_BYTES);
        (void)fcntl(res[1], F_SETPIPE_SZ, FP_PIPE_BYTES);
        long cap = peer_check(fcntl(res[1], F_GETPIPE_SZ), "F_GETPIPE_SZ");
        if ((size_t)cap < p->res_cap) {
            p->res_cap = (size_t)cap;
        }
        p->w[k].task_wr = task[1];
        p->w[k].res_rd = res[0];
        struct fp_start s = {p, k, task[0], res[1]};
        p->w[k].pid = peer_fork(fp_worker_main, &s, k);
        close(task[0]);
        close(res[1]);
    }
}

/* Closes the task pipes (the workers exit) and waits for the workers. */
static void
fp_close(struct fp_pool *p)
{
    pid_t pids[FP_WORKERS];

    for (int k = 0; k < FP_WORKERS; k++) {
        close(p->w[k].task_wr);
        pids[k] = p->w[k].pid;
    }
    peer_wait(pids, FP_WORKERS);
    for (int k = 0; k < FP_WORKERS; k++) {
        close(p->w[k].res_rd);
    }
}

/* Returns the default chunk size for n items (see FP_CHUNK_BYTES_MAX). */
static long
fp_chunksize(long n)
{
    long cs = (n + 4 * FP_WORKERS - 1) / (4 * FP_WORKERS);
    long most = FP_CHUNK_BYTES_MAX / (long)sizeof(long);

    cs = cs < most ? cs : most;
    return cs > 0 ? cs : 1;
}

/* Sends chunk [start, start + count) of in to worker w. */
static void
fp_send(struct fp_worker *w, const long *in, long start, long count)
{
    struct fp_hdr h = {start, count};

    if (write_full(w->task_wr, &h, sizeof h) != 0 ||
        write_full(w->task_wr, in + start, (size_t)count * sizeof(long)) != 0) {
        peer_die("forkpipe_pool", "task write failed");
    }
    w->inflight++;
}

/* Reads worker w's next result into out. */
static void
fp_recv(struct fp_worker *w, long *out)
{
    struct fp_hdr h;

    if (read_full(w->res_rd, &h, sizeof h) != 0 ||
        read_full(w->res_rd, out + h.start, (size_t)h.count * sizeof(long)) !=
            0) {
        peer_die("forkpipe_pool", "result read failed");
    }
    w->inflight--;
}

/* out[i] = in[i] * in[i] for i < n, in chunks of cs items (0: the
 * default). */
static void
fp_map(struct fp_pool *p, const long *in, long *out, long n, long cs)
{
    cs = cs > 0 ? cs : fp_chunksize(n);
    long nchunks = (n + cs - 1) / cs;
    long msg = (cs + 2) * (long)sizeof(long);
    long depth = (long)p->res_cap / msg > 0 ? (long)p->res_cap / msg : 1;
    long sent = 0;

    for (long got = 0; got < nchunks; got++) {
        while (sent < nchunks && p->w[sent % FP_WORKERS].inflight < depth) {
            long start = sent * cs;

            fp_send(&p->w[sent % FP_WORKERS], in, start,
                    n - start < cs ? n - start : cs);
            sent++;
        }
        fp_recv(&p->w[got % FP_WORKERS], out);
    }
}

/* Returns x * x, computed by the next worker in turn. */
static long
fp_apply(struct fp_pool *p, long x)
{
    struct fp_worker *w = &p->w[p->next++ % FP_WORKERS];
    long y = 0;

    fp_send(w, &x, 0, 1);
    fp_recv(w, &y);
    return y;
}

/* Maps over 0 .. n-1 with chunk size cs into fresh arrays (allocated
 * inside the timing, as mp_bench's map_squares); exits unless every
 * square came back. */
static void
map_squares(struct fp_pool *p, long n, long cs)
{
    long *in = bench_range_longs(n);
    long *out = bench_big_array((size_t)n * sizeof(long));

    fp_map(p, in, out, n, cs);
    if (out[n - 1] != (n - 1) * (n - 1) || out[n / 2] != (n / 2) * (n / 2)) {
        peer_die("forkpipe_pool", "map: wrong result");
    }
    bench_big_array_free(in, (size_t)n * sizeof(long));
    bench_big_array_free(out, (size_t)n * sizeof(long));
}

/* pool_map_trivial: map(x*x) with the default chunk size, then with 1. */
static void
wl_pool_map_trivial(void)
{
    static const long cs_n[][2] = {{0, PEER_N_POOL_MAP},
                                   {1, PEER_N_POOL_MAP_CS1}};
    struct fp_pool p;

    fp_create(&p);
    map_squares(&p, 1000, 0); /* warm-up */
    for (size_t k = 0; k < 2; k++) {
        long cs = cs_n[k][0], n = peer_scaled(cs_n[k][1], 10);
        double t0 = bench_now();
        map_squares(&p, n, cs);
        double dt = bench_now() - t0;
        bench_emit(cs > 0 ? "pool_map_trivial_chunksize1@forkpipe_pool"
                          : "pool_map_trivial_default_chunksize@forkpipe_pool",
                   (double)n / dt, "items/s",
                   "n=%ld fork+pipe pool of %d, x*x, chunksize %ld, round "
                   "robin; in/out arrays: mmap+MADV_POPULATE_WRITE, timed",
                   n, FP_WORKERS, cs > 0 ? cs : fp_chunksize(n));
    }
    fp_close(&p);
}

/* pool_apply_async_roundtrip: one x*x to a worker and back at a time. */
static void
wl_pool_apply_async_roundtrip(void)
{
    long n = peer_scaled(PEER_N_APPLY, 10);
    struct fp_pool p;

    fp_create(&p);
    for (long i = 0; i < 200; i++) {
        if (fp_apply(&p, i) != i * i) {
            peer_die("forkpipe_pool", "apply: wrong result");
        }
    }
    double t0 = bench_now();
    for (long i = 0; i < n; i++) {
        if (fp_apply(&p, i) != i * i) {
            peer_die("forkpipe_pool", "apply: wrong result");
        }
    }
    double dt = bench_now() - t0;
    fp_close(&p);
    bench_emit("pool_apply_async_roundtrip@forkpipe_pool", dt / (double)n * 1e6,
               "us",
               "n=%ld one x*x to the next worker (round robin) and back over "
               "its pipes, fork+pipe pool of %d",
               n, FP_WORKERS);
}

int
main(int argc, char **argv)
{
    static const struct peer_workload list[] = {
        {"pool_map_trivial", wl_pool_map_trivial},
        {"pool_apply_async_roundtrip", wl_pool_apply_async_roundtrip},
    };

    return peer_main(argc, argv, "peer_forkpipe_pool", list,
                     sizeof list / sizeof list[0]);
}
