/* SPDX-License-Identifier: MIT */
/* test-mpi-pool.c - the distributed pool under mpiexec (tests/mpi/
 * CMakeLists.txt runs it with 2, 3 and 4 ranks, over shared memory and
 * over TCP): every Pool call on a pool over the worker ranks, ordering,
 * per-item errors, imap over lazy input, statistics, the initializer and
 * its failure, a task that SIGKILLs its own process, a task that blocks
 * past the task timeout, large payloads split into parts
 * (MP_MPI_PART_MAX), several pools at once; with --spawn N, all of it in
 * spawn mode.
 * Rank 0 runs the cases one after another and prints "ok - <case>" for
 * each; any failure prints "FAIL" with where and why and ends the job.
 * With --expect-refusal it is the parent of a job whose other rank runs
 * another program (mpi_other_program) and checks that the handshake
 * refused it. */
#include <multiproc.h>
#include <multiproc/mpi.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every blocking call gets this (ms): generous for a loaded 2-core box. */
#define T_WAIT 120000

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
            failures++;                                                        \
            return;                                                            \
        }                                                                      \
    } while (0)
#define CHECK_RC(expr, want)                                                   \
    do {                                                                       \
        int rc_ = (int)(expr);                                                 \
        if (rc_ != (want)) {                                                   \
            fprintf(stderr, "FAIL %s:%d: %s = %d (%s), want %d\n", __FILE__,   \
                    __LINE__, #expr, rc_, mp_strerror(rc_), (int)(want));      \
            failures++;                                                        \
            return;                                                            \
        }                                                                      \
    } while (0)

/*---- tasks and initializers (run in the ranks' children) --------------*/

static int64_t bonus;

static int64_t
in64(const void *in)
{
    int64_t x;
    memcpy(&x, in, sizeof x);
    return x;
}

static int
sq(const void *in, size_t n, mp_pool_out_t *out)
{
    (void)n;
    int64_t x = in64(in);
    x = x * x + bonus;
    return mp_pool_out_write(out, &x, sizeof x);
}

static int
fail_odd(const void *in, size_t n, mp_pool_out_t *out)
{
    int64_t x = in64(in);
    if (x % 2 != 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "odd %lld", (long long)x);
        mp_pool_out_error(out, msg);
        return 1;
    }
    return sq(in, n, out);
}

static int
die_on_3(const void *in, size_t n, mp_pool_out_t *out)
{
    if (in64(in) == 3) {
        raise(SIGKILL);
    }
    return sq(in, n, out);
}

static int
block_on_2(const void *in, size_t n, mp_pool_out_t *out)
{
    if (in64(in) == 2) {
        for (;;) {
            pause();
        }
    }
    return sq(in, n, out);
}

/* Stops its rank (the local pool's child's parent): the rank then
 * answers nothing, as a hung or lost node would. */
static int
stop_rank(const void *in, size_t n, mp_pool_out_t *out)
{
    (void)in;
    (void)n;
    (void)out;
    kill(getppid(), SIGSTOP);
    pause();
    return 1;
}

/* Takes its host off the network: every interface of its network
 * namespace but the loopback goes down (ip link set ... down), as when a
 * node's link or switch fails; the rank itself runs on, unreachable. */
static int
cut_link(const void *in, size_t n, mp_pool_out_t *out)
{
    (void)in;
    (void)n;
    (void)out;
    DIR *d = opendir("/sys/class/net");
    if (d == NULL) {
        return 1;
    }
    int bad = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "lo") == 0) {
            continue;
        }
        char cmd[300];
        snprintf(cmd, sizeof cmd, "ip link set dev '%s' down", e->d_name);
        bad |= system(cmd) != 0;
    }
    closedir(d);
    return bad;
}

/* Tells that it started (a byte into the FIFO named by in with ".s"
 * added), then waits until the parent lets go of the lock on the file
 * named by in (flock: the parent holds it exclusively, each item asks to
 * share it), then answers the name's length: an item held for as long as
 * a test wants. */
static int
hold(const void *in, size_t n, mp_pool_out_t *out)
{
    char path[256], fifo[300];
    snprintf(path, sizeof path, "%.*s", (int)strnlen(in, n), (const char *)in);
    snprintf(fifo, sizeof fifo, "%s.s", path);
    int sfd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (sfd >= 0) {
        (void)!write(sfd, "s", 1);
        close(sfd);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_SH) != 0) {
        return 1;
    }
    close(fd);
    int64_t len = (int64_t)strlen(path);
    return mp_pool_out_write(out, &len, sizeof len);
}

static int
echo(const void *in, size_t n, mp_pool_out_t *out)
{
    return mp_pool_out_write(out, in, n);
}

typedef struct pair {
    int64_t a, b;
} pair_t;

static int
mul(const void *in, size_t n, mp_pool_out_t *out)
{
    (void)n;
    pair_t p;
    memcpy(&p, in, sizeof p);
    int64_t r = p.a * p.b;
    return mp_pool_out_write(out, &r, sizeof r);
}

static int
init_bonus(void *arg)
{
    memcpy(&bonus, arg, sizeof bonus);
    return 0;
}

static int
init_fail(void *arg)
{
    (void)arg;
    return 7;
}

/*---- the cases (rank 0) ------------------------------------------------*/

static mp_mpi_t *mpi;

static mp_pool_t *
new_pool(const mp_mpi_pool_opts_t *o)
{
    mp_pool_t *pool = NULL;
    mp_mpi_pool_opts_t d = MP_MPI_POOL_OPTS_INIT;
    d.processes = 1;
    int rc = mp_mpi_pool_create(mpi, o != NULL ? o : &d, &pool);
    if (rc != 0) {
        fprintf(stderr, "FAIL: mp_mpi_pool_create: %s\n", mp_strerror(rc));
        exit(1);
    }
    return pool;
}

static void
end_pool(mp_pool_t *pool)
{
    if (mp_pool_close(pool) != 0 || mp_pool_join(pool, T_WAIT) != 0) {
        fprintf(stderr, "FAIL: close/join\n");
        failures++;
    }
    mp_pool_destroy(pool);
}

static void
case_map(mp_pool_t *pool)
{
    enum { N = 1000 };
    static int64_t in[N], out[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
    }
    const size_t sizes[] = {0, 1, 7, 256};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int status[N];
        memset(out, 0, sizeof out);
        CHECK_RC(mp_pool_map(pool, sq, in, sizeof in[0], N, sizes[k], out,
                             sizeof out[0], status, T_WAIT),
                 0);
        for (int i = 0; i < N; i++) {
            CHECK(out[i] == (int64_t)i * i && status[i] == 0);
        }
    }
    CHECK_RC(mp_pool_processes(pool), mp_mpi_workers(mpi));
}

static atomic_int cb_ok;

static int
on_success(const void *data, size_t len, void *arg)
{
    (void)arg;
    if (len == sizeof(int64_t)) {
        atomic_fetch_add(&cb_ok, 1);
    }
    (void)data;
    return 0;
}

static void
case_apply(mp_pool_t *pool)
{
    int64_t x = 12;
    void *out = NULL;
    CHECK_RC(mp_pool_apply(pool, sq, &x, sizeof x, &out, T_WAIT),
             (ssize_t)sizeof x);
    CHECK(in64(out) == 144);
    mp_free(out);
    enum { N = 50 };
    mp_result_t *r[N];
    mp_pool_callbacks_t cb = {.on_success = on_success};
    atomic_store(&cb_ok, 0);
    for (int i = 0; i < N; i++) {
        int64_t v = i;
        CHECK_RC(mp_pool_apply_async_cb(pool, sq, &v, sizeof v, &cb, &r[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        CHECK_RC(mp_result_get(r[i], &out, T_WAIT), (ssize_t)sizeof x);
        CHECK(in64(out) == (int64_t)i * i);
        mp_free(out);
        mp_result_destroy(r[i]);
    }
    CHECK(atomic_load(&cb_ok) == N);
}

static void
case_imap(mp_pool_t *pool)
{
    enum { N = 100 };
    int64_t in[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
    }
    mp_imap_t *it;
    CHECK_RC(mp_pool_imap(pool, sq, in, sizeof in[0], N, 3, &it), 0);
    for (int i = 0; i < N; i++) {
        void *out;
        size_t idx;
        CHECK_RC(mp_imap_next(it, &out, &idx, T_WAIT), 8);
        CHECK(idx == (size_t)i && in64(out) == (int64_t)i * i);
        mp_free(out);
    }
    CHECK_RC(mp_imap_next(it, NULL, NULL, T_WAIT), MP_EOF);
    mp_imap_destroy(it);
    bool seen[N] = {false};
    CHECK_RC(mp_pool_imap_unordered(pool, sq, in, sizeof in[0], N, 1, &it), 0);
    for (int i = 0; i < N; i++) {
        void *out;
        size_t idx;
        CHECK_RC(mp_imap_next(it, &out, &idx, T_WAIT), 8);
        CHECK(idx < N && !seen[idx] && in64(out) == (int64_t)(idx * idx));
        seen[idx] = true;
        mp_free(out);
    }
    CHECK_RC(mp_imap_next(it, NULL, NULL, T_WAIT), MP_EOF);
    mp_imap_destroy(it);
}

/* imap over lazy input: the source is asked only while fewer than the
 * window are queued and not taken. */
typedef struct lazy {
    int64_t next, n, window, taken, max_ahead;
    int64_t cur;
} lazy_t;

static int
lazy_source(void *arg, const void **item, size_t *len)
{
    lazy_t *z = arg;
    if (z->next == z->n) {
        return 0;
    }
    if (z->next - z->taken > z->max_ahead) {
        z->max_ahead = z->next - z->taken;
    }
    z->cur = z->next++;
    *item = &z->cur;
    *len = sizeof z->cur;
    return 1;
}

static void
case_imap_source_and_stats(mp_pool_t *pool)
{
    lazy_t z = {.n = 60, .window = 4};
    mp_imap_t *it;
    CHECK_RC(mp_pool_imap_source(pool, sq, lazy_source, &z, (size_t)z.window,
                                 true, &it),
             0);
    for (int64_t i = 0; i < z.n; i++) {
        void *out;
        size_t idx;
        CHECK_RC(mp_imap_next(it, &out, &idx, T_WAIT), 8);
        CHECK(idx == (size_t)i && in64(out) == i * i);
        mp_free(out);
        z.taken++;
    }
    CHECK_RC(mp_imap_next(it, NULL, NULL, T_WAIT), MP_EOF);
    mp_imap_destroy(it);
    /* (taken counts after mp_imap_next returned, so one more is fine.) */
    CHECK(z.max_ahead <= z.window + 1);
    mp_pool_stats_t st;
    mp_pool_worker_info_t w[8];
    int n = mp_pool_stats(pool, &st, w, 8);
    CHECK(n == mp_mpi_workers(mpi) && st.processes == n);
    CHECK(st.submitted >= (uint64_t)z.n && st.done >= (uint64_t)z.n);
}

static void
case_starmap_async(mp_pool_t *pool)
{
    enum { N = 64 };
    pair_t in[N];
    int64_t out[N];
    int status[N];
    for (int i = 0; i < N; i++) {
        in[i] = (pair_t){i, i + 1};
    }
    CHECK_RC(mp_pool_starmap(pool, mul, in, sizeof in[0], N, 5, out,
                             sizeof out[0], status, T_WAIT),
             0);
    for (int i = 0; i < N; i++) {
        CHECK(out[i] == (int64_t)i * (i + 1));
    }
    memset(out, 0, sizeof out);
    mp_result_t *r;
    atomic_store(&cb_ok, 0);
    mp_pool_callbacks_t cb = {.on_success = on_success};
    CHECK_RC(mp_pool_starmap_async(pool, mul, in, sizeof in[0], N, 4, &cb, out,
                                   sizeof out[0], status, &r),
             0);
    CHECK_RC(mp_result_get(r, NULL, T_WAIT), 0);
    mp_result_destroy(r);
    for (int i = 0; i < N; i++) {
        CHECK(out[i] == (int64_t)i * (i + 1) && status[i] == 0);
    }
}

static void
case_item_errors(mp_pool_t *pool)
{
    enum { N = 20 };
    int64_t in[N], out[N];
    int status[N];
    char *errors[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
    }
    CHECK_RC(mp_pool_map_errors(pool, fail_odd, in, sizeof in[0], N, 3, out,
                                sizeof out[0], status, errors, T_WAIT),
             MP_EREMOTE);
    for (int i = 0; i < N; i++) {
        if (i % 2 == 0) {
            CHECK(status[i] == 0 && out[i] == (int64_t)i * i &&
                  errors[i] == NULL);
        } else {
            char want[32];
            snprintf(want, sizeof want, "odd %d", i);
            CHECK(status[i] == MP_EREMOTE && errors[i] != NULL &&
                  strcmp(errors[i], want) == 0);
        }
        mp_free(errors[i]);
    }
    int64_t x = 5;
    mp_result_t *r;
    CHECK_RC(mp_pool_apply_async(pool, fail_odd, &x, sizeof x, &r), 0);
    CHECK_RC(mp_result_get(r, NULL, T_WAIT), MP_EREMOTE);
    CHECK(strcmp(mp_result_error_message(r), "odd 5") == 0);
    mp_result_destroy(r);
}

static void
case_initializer(void)
{
    int64_t b = 5;
    mp_mpi_pool_opts_t o = MP_MPI_POOL_OPTS_INIT;
    o.processes = 1;
    o.initializer = init_bonus;
    o.initarg = &b;
    o.initarg_len = sizeof b;
    mp_pool_t *pool = new_pool(&o);
    int64_t in[10], out[10];
    for (int i = 0; i < 10; i++) {
        in[i] = i;
    }
    int rc = mp_pool_map(pool, sq, in, sizeof in[0], 10, 1, out, sizeof out[0],
                         NULL, T_WAIT);
    end_pool(pool);
    CHECK_RC(rc, 0);
    for (int i = 0; i < 10; i++) {
        CHECK(out[i] == (int64_t)i * i + 5);
    }
}

static void
case_initializer_fails(void)
{
    mp_mpi_pool_opts_t o = MP_MPI_POOL_OPTS_INIT;
    o.processes = 1;
    o.initializer = init_fail;
    mp_pool_t *pool = new_pool(&o);
    int64_t x = 3;
    mp_result_t *r = NULL;
    int rc = mp_pool_apply_async(pool, sq, &x, sizeof x, &r);
    /* The ranks' report of the failure may reach this process before the
     * apply does: then the submission itself is refused with MP_EBROKEN
     * and there is no result to carry the reason. */
    bool submitted = rc == 0;
    if (submitted) {
        rc = mp_result_get(r, NULL, T_WAIT);
    }
    char msg[256] = "";
    if (r != NULL && mp_result_error_message(r) != NULL) {
        snprintf(msg, sizeof msg, "%s", mp_result_error_message(r));
    }
    mp_result_destroy(r);
    mp_pool_destroy(pool);
    CHECK_RC(rc, MP_EBROKEN);
    printf("# %s\n", submitted ? msg : "(refused at submission)");
    CHECK(!submitted || strstr(msg, "initializer failed (returned 7)") != NULL);
}

static void
case_sigkill(mp_pool_t *pool)
{
    enum { N = 8 };
    int64_t in[N], out[N];
    int status[N];
    char *errors[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
    }
    CHECK_RC(mp_pool_map_errors(pool, die_on_3, in, sizeof in[0], N, 1, out,
                                sizeof out[0], status, errors, T_WAIT),
             MP_EWORKER);
    bool bad = false;
    for (int i = 0; i < N; i++) {
        if (i == 3) {
            bad |= status[i] != MP_EWORKER || errors[i] == NULL ||
                   strstr(errors[i], "signal 9") == NULL ||
                   strstr(errors[i], "(rank ") == NULL;
            if (errors[i] != NULL) {
                printf("# item 3: %s\n", errors[i]);
            }
        } else {
            bad |= status[i] != 0 || out[i] != (int64_t)i * i;
        }
        mp_free(errors[i]);
    }
    CHECK(!bad);
    /* The item carries the exit code its child died with, as locally. */
    int64_t three = 3;
    mp_result_t *r = NULL;
    CHECK_RC(mp_pool_apply_async(pool, die_on_3, &three, sizeof three, &r), 0);
    int got = (int)mp_result_get(r, NULL, T_WAIT);
    int code = 0, has = mp_result_exitcode(r, &code);
    mp_result_destroy(r);
    CHECK_RC(got, MP_EWORKER);
    CHECK_RC(has, 0);
    CHECK_RC(code, -SIGKILL);
    /* The job goes on: the next map works. */
    CHECK_RC(mp_pool_map(pool, sq, in, sizeof in[0], N, 2, out, sizeof out[0],
                         NULL, T_WAIT),
             0);
    CHECK(out[7] == 49);
}

static void
case_task_timeout(void)
{
    mp_mpi_pool_opts_t o = MP_MPI_POOL_OPTS_INIT;
    o.processes = 1;
    o.task_timeout = 2000;
    mp_pool_t *pool = new_pool(&o);
    enum { N = 5 };
    int64_t in[N], out[N];
    int status[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
    }
    int rc = mp_pool_map(pool, block_on_2, in, sizeof in[0], N, 1, out,
                         sizeof out[0], status, T_WAIT);
    int rc2 = mp_pool_map(pool, sq, in, sizeof in[0], N, 1, out, sizeof out[0],
                          NULL, T_WAIT);
    end_pool(pool);
    CHECK_RC(rc, MP_ETIMEDOUT);
    for (int i = 0; i < N; i++) {
        CHECK(status[i] == (i == 2 ? MP_ETIMEDOUT : 0));
    }
    CHECK_RC(rc2, 0);
    CHECK(out[4] == 16);
}

static void
case_large(mp_pool_t *pool)
{
    /* MP_MPI_PART_MAX (set by the test) splits these into parts. */
    size_t n = (size_t)5 << 20;
    unsigned char *big = malloc(n);
    CHECK(big != NULL);
    for (size_t i = 0; i < n; i++) {
        big[i] = (unsigned char)(i * 7 + 3);
    }
    void *out = NULL;
    ssize_t len = mp_pool_apply(pool, echo, big, n, &out, T_WAIT);
    bool same = len == (ssize_t)n && memcmp(out, big, n) == 0;
    mp_free(out);
    const void *bufs[3] = {big, big + 1, big + 2};
    size_t lens[3] = {n - 2, (size_t)2 << 20, 3};
    void *outs[3];
    size_t out_lens[3];
    int rc2 = mp_pool_map_buffers(pool, echo, bufs, lens, 3, 1, outs, out_lens,
                                  NULL, T_WAIT);
    for (int i = 0; i < 3; i++) {
        same &= rc2 == 0 && out_lens[i] == lens[i] &&
                memcmp(outs[i], bufs[i], lens[i]) == 0;
        mp_free(outs[i]);
    }
    free(big);
    CHECK(len == (ssize_t)n);
    CHECK_RC(rc2, 0);
    CHECK(same);
}

static void
case_two_pools(void)
{
    mp_pool_t *a = new_pool(NULL), *b = new_pool(NULL);
    enum { N = 200 };
    int64_t in[N], oa[N], ob[N];
    int sa[N], sb[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
    }
    mp_result_t *ra = NULL, *rb = NULL;
    int rc1 = mp_pool_map_async(a, sq, in, sizeof in[0], N, 3, NULL, oa,
                                sizeof oa[0], sa, &ra);
    int rc2 = mp_pool_map_async(b, echo, in, sizeof in[0], N, 5, NULL, ob,
                                sizeof ob[0], sb, &rb);
    int g1 = rc1 == 0 ? mp_result_get(ra, NULL, T_WAIT) : rc1;
    int g2 = rc2 == 0 ? mp_result_get(rb, NULL, T_WAIT) : rc2;
    mp_result_destroy(ra);
    mp_result_destroy(rb);
    end_pool(a);
    end_pool(b);
    CHECK_RC(g1, 0);
    CHECK_RC(g2, 0);
    for (int i = 0; i < N; i++) {
        CHECK(oa[i] == (int64_t)i * i && ob[i] == i);
    }
}

/* Waits until n bytes came through the FIFO fd (up to T_WAIT each);
 * returns whether they did. */
static bool
read_starts(int fd, int n)
{
    while (n > 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char buf[64];
        if (poll(&p, 1, T_WAIT) != 1) {
            return false;
        }
        ssize_t got =
            read(fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf);
        if (got > 0) {
            n -= (int)got;
        }
    }
    return true;
}

/* Several pools share the ranks fairly: pool a is flooded with items that
 * all stay blocked (hold: the parent keeps the lock), more of them than a
 * rank's window (MP__MPI_RANK_WINDOW, 32) per rank, and once every rank
 * runs one of them, pool b's single item must still come back before any
 * of a's ends. */
static void
case_pools_share_ranks(void)
{
    char path[] = "/tmp/mp-mpi-fair-XXXXXX", fifo[40];
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    snprintf(fifo, sizeof fifo, "%s.s", path);
    int sfd = mkfifo(fifo, 0600) == 0 ? open(fifo, O_RDWR | O_CLOEXEC) : -1;
    if (sfd < 0 || flock(fd, LOCK_EX) != 0) {
        close(fd);
        unlink(path);
        unlink(fifo);
        CHECK(!"fifo, flock");
    }
    mp_pool_t *a = new_pool(NULL), *b = new_pool(NULL);
    enum { N = 400 };
    static char in[N][32];
    static int64_t out[N];
    for (int i = 0; i < N; i++) {
        snprintf(in[i], sizeof in[i], "%s", path);
    }
    mp_result_t *ra = NULL, *rb = NULL;
    int rca = mp_pool_map_async(a, hold, in, sizeof in[0], N, 1, NULL, out,
                                sizeof out[0], NULL, &ra);
    /* Every rank's child runs one of a's (the rest of each rank's share
     * went with it, at once). */
    bool started = rca == 0 && read_starts(sfd, mp_mpi_workers(mpi));
    int64_t x = 9;
    int rcb = mp_pool_apply_async(b, sq, &x, sizeof x, &rb);
    void *got = NULL;
    ssize_t gb = rcb == 0 ? mp_result_get(rb, &got, T_WAIT) : rcb;
    int64_t v = gb == (ssize_t)sizeof v ? in64(got) : -1;
    mp_free(got);
    bool a_blocked = rca == 0 && !mp_result_ready(ra);
    /* Let a's items go, then everything ends normally. */
    close(fd);
    int ga = rca == 0 ? (int)mp_result_get(ra, NULL, T_WAIT) : rca;
    bool a_ok = ga == 0;
    for (int i = 0; i < N && a_ok; i++) {
        a_ok = out[i] == (int64_t)strlen(path);
    }
    mp_result_destroy(ra);
    mp_result_destroy(rb);
    end_pool(a);
    end_pool(b);
    close(sfd);
    unlink(fifo);
    unlink(path);
    CHECK_RC(rca, 0);
    CHECK(started);
    CHECK_RC(gb, (ssize_t)sizeof v);
    CHECK(v == 81);
    CHECK(a_blocked);
    CHECK_RC(ga, 0);
    CHECK(a_ok);
}

static void
case_terminate(void)
{
    mp_pool_t *pool = new_pool(NULL);
    int64_t x = 2;
    mp_result_t *r;
    CHECK_RC(mp_pool_apply_async(pool, block_on_2, &x, sizeof x, &r), 0);
    CHECK_RC(mp_pool_terminate(pool), 0);
    CHECK_RC(mp_pool_join(pool, T_WAIT), 0);
    CHECK_RC(mp_result_get(r, NULL, T_WAIT), MP_ECANCELED);
    mp_result_destroy(r);
    CHECK_RC(mp_pool_apply_async(pool, sq, &x, sizeof x, &r), MP_ECLOSED);
    mp_pool_destroy(pool);
}

#define RUN(call)                                                              \
    do {                                                                       \
        int before_ = failures;                                                \
        call;                                                                  \
        printf("%s - %s\n", failures == before_ ? "ok" : "not ok", #call);     \
        fflush(stdout);                                                        \
    } while (0)

/* --stop-rank: a rank stops answering (fn stop_rank); --link-down: its
 * host goes off the network (fn cut_link, under tests/mpi/netns.sh). The
 * heartbeat must end the job (MPI_Abort with the rank and host) instead
 * of letting the get hang. */
static int
lost_rank_case(mp_pool_fn fn)
{
    mp_pool_t *pool = new_pool(NULL);
    mp_result_t *r;
    int64_t x = 1;
    if (mp_pool_apply_async(pool, fn, &x, sizeof x, &r) != 0) {
        return 1;
    }
    ssize_t rc = mp_result_get(r, NULL, T_WAIT);
    printf("FAIL: the job went on after its rank was lost: %s\n",
           mp_strerror((int)rc));
    return 1;
}

int
main(int argc, char **argv)
{
    bool stop = argc > 1 && strcmp(argv[1], "--stop-rank") == 0;
    bool link_down = argc > 1 && strcmp(argv[1], "--link-down") == 0;
    mp_mpi_opts_t mo = MP_MPI_OPTS_INIT;
    mo.heartbeat_timeout = stop || link_down ? 3000 : 0;
    /* --spawn N: spawn mode (a one-rank job starts N workers); the spawned
     * workers get the same arguments. */
    if (argc > 2 && strcmp(argv[1], "--spawn") == 0) {
        mo.spawn = atoi(argv[2]);
    }
    int role = mp_mpi_init(&mpi, &argc, &argv, &mo);
    if ((stop || link_down) && role == MP_MPI_PARENT) {
        return lost_rank_case(stop ? stop_rank : cut_link);
    }
    bool expect_refusal = argc > 1 && strcmp(argv[1], "--expect-refusal") == 0;
    if (expect_refusal) {
        printf("mp_mpi_init: %s\n", mp_strerror(role));
        return role == MP_EPROTO ? 0 : 1;
    }
    if (role == MP_MPI_WORKER) {
        return 0;
    }
    if (role != MP_MPI_PARENT) {
        fprintf(stderr, "FAIL: mp_mpi_init: %s\n", mp_strerror(role));
        return 1;
    }
    printf("# %d worker ranks\n", mp_mpi_workers(mpi));
    mp_pool_t *pool = new_pool(NULL);
    RUN(case_map(pool));
    RUN(case_apply(pool));
    RUN(case_imap(pool));
    RUN(case_imap_source_and_stats(pool));
    RUN(case_starmap_async(pool));
    RUN(case_item_errors(pool));
    RUN(case_sigkill(pool));
    RUN(case_large(pool));
    RUN(case_initializer());
    RUN(case_initializer_fails());
    RUN(case_task_timeout());
    RUN(case_two_pools());
    RUN(case_pools_share_ranks());
    RUN(case_terminate());
    int busy = mp_mpi_finalize(mpi, T_WAIT);
    end_pool(pool);
    int rc = mp_mpi_finalize(mpi, T_WAIT);
    if (busy != MP_EBUSY || rc != 0) {
        fprintf(stderr, "FAIL: finalize: %s then %s\n", mp_strerror(busy),
                mp_strerror(rc));
        failures++;
    }
    if (failures == 0) {
        printf("mpi_pool: all cases passed\n");
    }
    return failures == 0 ? 0 : 1;
}
