/* SPDX-License-Identifier: MIT */
/* test-pool-transport.c - the pool's hook for workers that are not its
 * forked children (src/pool/remote.h), without MPI: a transport whose
 * workers are threads of the test, answering in the pool's own message
 * formats, drives the ordinary mp_pool_* calls, and an item may fail with
 * the library code its worker gives (MP__ITEM_CODE); a forwarded task
 * (mp__pool_submit_raw) ends in its sink with the worker's reply as it
 * came, or with the failure when its worker was killed; a forwarded task
 * whose function reference is forged fails its item, nothing called; a
 * pool's owner can take its replies itself, without the handler. */
#include "runner.h"

#include "pool/remote.h"
#include "shm/fnref.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*---- a transport of threads ------------------------------------------*/

/* direct: a pool whose replies its workers hand to mp__pool_take_reply
 * first (NULL: none); taken counts those it took, queued those it left to
 * the result queue. */
typedef struct tstate {
    atomic_int started, released;
    mp_pool_t *_Atomic direct;
    atomic_int taken, queued;
} tstate_t;

typedef struct tworker {
    pthread_t thread;
    const mp__worker_ctx_t *ctx;
    tstate_t *st;
    int waker;
    atomic_bool killed;
} tworker_t;

/* Puts a reply of n bytes on the worker's result queue, unless the pool
 * takes it at once (st->direct). */
static void
put_reply(const tworker_t *w, const void *buf, size_t n)
{
    mp_pool_t *direct = atomic_load(&w->st->direct);
    if (direct != NULL && mp__pool_take_reply(direct, buf, n)) {
        atomic_fetch_add(&w->st->taken, 1);
        return;
    }
    if (direct != NULL) {
        atomic_fetch_add(&w->st->queued, 1);
    }
    MP__ASSERT(mp_queue_put(w->ctx->results, buf, n, MP_WAIT_FOREVER) == 0);
}

/* Answers a task of int64 items: 2x for an even one; an odd one fails
 * with MP_ETIMEDOUT given as the item's library code. */
static void
answer(const tworker_t *w, const char *msg)
{
    mp__task_hdr_t th;
    memcpy(&th, msg, sizeof th);
    const char *in = msg + mp__task_data_offset(th.ref_len);
    static const char text[] = "odd item";
    size_t n =
        sizeof(mp__reply_hdr_t) +
        th.nitems * (sizeof(mp__item_hdr_t) + sizeof(int64_t) + sizeof text);
    char *buf = calloc(1, n);
    MP__ASSERT(buf != NULL);
    mp__reply_hdr_t rh = {.kind = MP__REPLY_DONE,
                          .slot = w->ctx->slot,
                          .gen = w->ctx->gen,
                          .id = th.id,
                          .nitems = th.nitems,
                          .uniform_len = MP__ITEM_VAR};
    memcpy(buf, &rh, sizeof rh);
    char *tab = buf + sizeof rh;
    char *at = tab + th.nitems * sizeof(mp__item_hdr_t);
    for (uint64_t i = 0; i < th.nitems; i++) {
        int64_t x;
        memcpy(&x, in + i * sizeof x, sizeof x);
        mp__item_hdr_t ih = {.len = sizeof x};
        if (x % 2 != 0) {
            ih = (mp__item_hdr_t){
                .rc = MP_ETIMEDOUT, .pad = MP__ITEM_CODE, .len = sizeof text};
            memcpy(at, text, sizeof text);
        } else {
            x *= 2;
            memcpy(at, &x, sizeof x);
        }
        memcpy(tab + i * sizeof ih, &ih, sizeof ih);
        at += ih.len;
    }
    put_reply(w, buf, (size_t)(at - buf));
    free(buf);
}

static void *
tworker_main(void *arg)
{
    tworker_t *w = arg;
    mp__reply_hdr_t ready = {
        .kind = MP__REPLY_READY, .slot = w->ctx->slot, .gen = w->ctx->gen};
    put_reply(w, &ready, sizeof ready);
    while (!atomic_load(&w->killed)) {
        void *msg;
        ssize_t n = mp_queue_get(w->ctx->inbox, &msg, 20);
        if (n < 0) {
            continue;
        }
        mp__task_hdr_t th;
        memcpy(&th, msg, sizeof th);
        if (th.kind == MP__TASK_STOP) {
            mp_free(msg);
            break;
        }
        answer(w, msg);
        mp_free(msg);
    }
    mp__plat_waker_signal(w->waker);
    return NULL;
}

static int
t_start(void *arg, const mp__worker_ctx_t *ctx, void **worker, pid_t *pid)
{
    tstate_t *st = arg;
    tworker_t *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return MP_ENOMEM;
    }
    w->ctx = ctx;
    w->st = st;
    w->waker = mp__plat_waker_open();
    MP__ASSERT(w->waker >= 0);
    MP__ASSERT(pthread_create(&w->thread, NULL, tworker_main, w) == 0);
    atomic_fetch_add(&st->started, 1);
    *worker = w;
    *pid = 0;
    return 0;
}

static mp_waitable_t
t_waitable(void *worker)
{
    tworker_t *w = worker;
    return (mp_waitable_t){.kind = MP_WAIT_FD, .u.fd = w->waker};
}

static void
t_kill(void *worker)
{
    tworker_t *w = worker;
    atomic_store(&w->killed, true);
}

static void
t_reap(void *worker, int *exitcode)
{
    tworker_t *w = worker;
    pthread_join(w->thread, NULL);
    *exitcode = atomic_load(&w->killed) ? -SIGKILL : 0;
    mp__plat_waker_close(w->waker);
    free(w);
}

static void
t_release(void *arg)
{
    tstate_t *st = arg;
    atomic_fetch_add(&st->released, 1);
}

/* The transport of thread workers, counting in st. */
static mp__pool_transport_t
thread_transport(tstate_t *st)
{
    return (mp__pool_transport_t){.arg = st,
                                  .start = t_start,
                                  .waitable = t_waitable,
                                  .kill = t_kill,
                                  .reap = t_reap,
                                  .release = t_release};
}

static int
never_run(const void *in, size_t n, mp_pool_out_t *out)
{
    (void)in;
    (void)n;
    (void)out;
    return 1;
}

/* A pool of processes workers of the thread transport, counting in st. */
static mp_pool_t *
thread_pool(tstate_t *st, int processes)
{
    mp__pool_transport_t t = thread_transport(st);
    mp_pool_opts_t o = MP_POOL_OPTS_INIT;
    o.processes = processes;
    mp_pool_t *pool;
    ASSERT_OK(mp__pool_create_transport(&pool, &o, &t));
    return pool;
}

TEST(pool_transport_threads_run_the_pool_calls)
{
    tstate_t st = {0};
    mp_pool_t *pool = thread_pool(&st, 2);
    enum { N = 40 };
    int64_t in[N], out[N];
    int status[N];
    char *errors[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
    }
    /* The function is never called here: the workers answer by data. */
    ASSERT_ERR(mp_pool_map_errors(pool, never_run, in, sizeof in[0], N, 3, out,
                                  sizeof out[0], status, errors, 10000),
               MP_ETIMEDOUT);
    for (int i = 0; i < N; i++) {
        if (i % 2 == 0) {
            ASSERT_EQ(status[i], 0);
            ASSERT_EQ(out[i], 2 * i);
            ASSERT_NULL(errors[i]);
        } else {
            /* The worker's code, not MP_EREMOTE. */
            ASSERT_EQ(status[i], MP_ETIMEDOUT);
            ASSERT_STR_EQ(errors[i], "odd item");
        }
        mp_free(errors[i]);
    }
    int64_t x = 20;
    void *r = NULL;
    ASSERT_EQ(mp_pool_apply(pool, never_run, &x, sizeof x, &r, 10000),
              (ssize_t)sizeof x);
    memcpy(&x, r, sizeof x);
    mp_free(r);
    ASSERT_EQ(x, 40);
    ASSERT_OK(mp_pool_close(pool));
    ASSERT_OK(mp_pool_join(pool, 10000));
    ASSERT_EQ(atomic_load(&st.started), 2);
    ASSERT_EQ(atomic_load(&st.released), 0);
    mp_pool_destroy(pool);
    ASSERT_EQ(atomic_load(&st.released), 1);
}

static int
note_thread(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    *(pthread_t *)arg = pthread_self();
    return 0;
}

/* A transport's thread that brings replies (the MPI funnel) hands them to
 * mp__pool_take_reply: an apply ends in that thread, the handler thread
 * neither woken nor spinning (before, each reply went through the result
 * queue and woke it: one more hand-over per round trip). A pool given a
 * callback falls back to the queue, so callbacks stay on the handler. */
TEST_TIMEOUT(pool_take_reply_ends_applies_without_the_handler, 60)
{
    tstate_t st = {0};
    mp_pool_t *pool = thread_pool(&st, 1);
    int64_t x = 2;
    void *r = NULL;
    ASSERT_EQ(mp_pool_apply(pool, never_run, &x, sizeof x, &r, 10000),
              (ssize_t)sizeof x); /* its worker is ready */
    mp_free(r);
    atomic_store(&st.direct, pool);
    int64_t deadline = mp__deadline_after_ns((int64_t)20 * 1000000000);
    uint64_t spins0, sleeps0, spins1, sleeps1;
    while (!mp__pool_spin_counts(pool, &spins0, &sleeps0)) {
        ASSERT(mp__now_ns() < deadline);
        sched_yield();
    }
    enum { TASKS = 40 };
    for (int64_t i = 0; i < TASKS; i++) {
        x = 2 * i;
        ASSERT_EQ(mp_pool_apply(pool, never_run, &x, sizeof x, &r, 10000),
                  (ssize_t)sizeof x);
        memcpy(&x, r, sizeof x);
        mp_free(r);
        ASSERT_EQ(x, 4 * i);
        /* The worker counts after the result was delivered. */
        while (atomic_load(&st.taken) + atomic_load(&st.queued) <= i) {
            ASSERT(mp__now_ns() < deadline);
            sched_yield();
        }
    }
    (void)mp__pool_spin_counts(pool, &spins1, &sleeps1);
    ASSERT_EQ(atomic_load(&st.taken), TASKS);
    ASSERT_EQ(spins1 - spins0 + sleeps1 - sleeps0, 0);
    /* With a callback, replies go to the handler, which runs it. */
    pthread_t ran = pthread_self();
    mp_pool_callbacks_t cb = {.on_success = note_thread, .arg = &ran};
    mp_result_t *res;
    x = 6;
    ASSERT_OK(mp_pool_apply_async_cb(pool, never_run, &x, sizeof x, &cb, &res));
    ASSERT_EQ(mp_result_get(res, &r, 10000), (ssize_t)sizeof x);
    mp_free(r);
    mp_result_destroy(res);
    ASSERT(!pthread_equal(ran, pthread_self()));
    ASSERT_EQ(atomic_load(&st.taken), TASKS);
    ASSERT_EQ(atomic_load(&st.queued), 1);
    ASSERT_OK(mp_pool_close(pool));
    ASSERT_OK(mp_pool_join(pool, 10000));
    mp_pool_destroy(pool);
}

TEST(pool_transport_terminate_kills_and_reaps)
{
    tstate_t st = {0};
    mp__pool_transport_t t = thread_transport(&st);
    mp_pool_t *pool;
    mp_pool_opts_t o = MP_POOL_OPTS_INIT;
    o.processes = 3;
    ASSERT_OK(mp__pool_create_transport(&pool, &o, &t));
    ASSERT_OK(mp_pool_terminate(pool));
    ASSERT_OK(mp_pool_join(pool, 10000));
    mp_pool_destroy(pool);
    ASSERT_EQ(atomic_load(&st.released), 1);
}

/*---- forwarded tasks ---------------------------------------------------*/

typedef struct catch
{
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool ended;
    int err;
    int exitcode; /* INT_MIN: none */
    char msg[256];
    mp__reply_hdr_t rh;
    char items[256];
    size_t items_len;
}
catch_t;

static void
c_done(void *arg, const mp__reply_hdr_t *rh, const char *p, const char *end)
{
    catch_t *c = arg;
    pthread_mutex_lock(&c->mu);
    c->rh = *rh;
    c->items_len = (size_t)(end - p) < sizeof c->items ? (size_t)(end - p)
                                                       : sizeof c->items;
    memcpy(c->items, p, c->items_len);
    c->ended = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void
c_fail(void *arg, int err, const char *msg, bool has_exit, int exitcode)
{
    catch_t *c = arg;
    pthread_mutex_lock(&c->mu);
    c->err = err;
    c->exitcode = has_exit ? exitcode : INT_MIN;
    snprintf(c->msg, sizeof c->msg, "%s", msg != NULL ? msg : "");
    c->ended = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static const mp__pool_sink_t c_sink = {.done = c_done, .fail = c_fail};

/* Waits (bounded) until c's task ended. */
static void
c_wait(catch_t *c)
{
    int64_t deadline = mp__deadline_after_ns((int64_t)20 * 1000000000);
    pthread_mutex_lock(&c->mu);
    while (!c->ended) {
        ASSERT_EQ(mp__pool_cond_wait(&c->cv, &c->mu, deadline), 0);
    }
    pthread_mutex_unlock(&c->mu);
}

static int
triple(const void *in, size_t n, mp_pool_out_t *out)
{
    (void)n;
    int64_t x;
    memcpy(&x, in, sizeof x);
    if (x < 0) {
        raise(SIGKILL);
    }
    x *= 3;
    return mp_pool_out_write(out, &x, sizeof x);
}

/* Builds the task message of fn over n int64 items at in (free it). */
static char *
task_message(mp_pool_fn fn, const int64_t *in, size_t n, size_t *len)
{
    void *ref;
    ssize_t ref_len = mp__fnref_encode((mp__fn_t)fn, &ref);
    MP__ASSERT(ref_len > 0);
    size_t at = mp__task_data_offset((uint32_t)ref_len);
    *len = at + n * sizeof *in;
    char *msg = calloc(1, *len);
    MP__ASSERT(msg != NULL);
    mp__task_hdr_t th = {.kind = MP__TASK_RUN,
                         .ref_len = (uint32_t)ref_len,
                         .item_size = sizeof *in,
                         .nitems = n};
    memcpy(msg, &th, sizeof th);
    memcpy(msg + sizeof th, ref, (size_t)ref_len);
    memcpy(msg + at, in, n * sizeof *in);
    mp__free(ref);
    return msg;
}

/* Forges the function reference of task message msg (task_message's):
 * its build-id one byte off (after "MPFN", version, kind and the id's
 * length), or its offset (the last 8 bytes) past its object's code. */
enum { FORGE_BUILD_ID, FORGE_OFFSET };
static void
forge(char *msg, int how)
{
    mp__task_hdr_t th;
    memcpy(&th, msg, sizeof th);
    unsigned char *ref = (unsigned char *)msg + sizeof th;
    if (how == FORGE_BUILD_ID) {
        ref[7] ^= 0x5a;
    } else {
        memset(ref + th.ref_len - 8, 0x7f, 8);
    }
}

/* Submits a task of triple over {-1} with its reference forged as how
 * says, and checks that its item failed with code and the worker's
 * message, triple uncalled (it would have killed the worker on -1: the
 * sink's fail). */
static void
check_forged_fails(mp_pool_t *pool, int how, int code)
{
    catch_t c = {.mu = PTHREAD_MUTEX_INITIALIZER};
    mp__pool_cond_init(&c.cv);
    int64_t minus = -1;
    size_t len;
    char *msg = task_message(triple, &minus, 1, &len);
    forge(msg, how);
    ASSERT_OK(mp__pool_submit_raw(pool, msg, len, &c_sink, &c));
    free(msg);
    c_wait(&c);
    pthread_cond_destroy(&c.cv);
    ASSERT_EQ(c.err, 0); /* a reply came: the worker lived */
    ASSERT_EQ(c.rh.kind, MP__REPLY_DONE);
    ASSERT_EQ(c.rh.nitems, 1);
    ASSERT_EQ(c.rh.uniform_len, MP__ITEM_VAR);
    mp__item_hdr_t ih;
    ASSERT_GE(c.items_len, sizeof ih);
    memcpy(&ih, c.items, sizeof ih);
    ASSERT_EQ(ih.rc, code);
    ASSERT((ih.pad & MP__ITEM_CODE) != 0);
    ASSERT_LE(ih.len, c.items_len - sizeof ih);
    const char *text = c.items + sizeof ih;
    ASSERT(memchr(text, '\0', ih.len) != NULL);
    ASSERT(strstr(text, "cannot be called in this worker") != NULL);
    ASSERT(strstr(text, mp_strerror(code)) != NULL);
}

/* A task whose function reference does not match (another build, code
 * that is not there) fails its item with a clear error under every start
 * method, nothing is called, and the same worker goes on with the next. */
TEST_TIMEOUT(pool_forged_task_reference_fails_and_pool_goes_on, 120)
{
    static const mp_start_method_t methods[] = {
        MP_START_FORK, MP_START_FORKSERVER, MP_START_SPAWN};
    for (size_t k = 0; k < sizeof methods / sizeof *methods; k++) {
        mp_pool_t *pool = mpt_pool_make_by(1, 0, methods[k]);
        char none[2] = {0};
        pid_t before[2], after[2];
        ASSERT_OK(mp_pool_map(pool, mpt_task_pid, none, 1, 2, 1, before,
                              sizeof *before, NULL, MP_WAIT_FOREVER));
        check_forged_fails(pool, FORGE_BUILD_ID, MP_ENOENT);
        check_forged_fails(pool, FORGE_OFFSET, MP_EPROTO);
        ASSERT_OK(mp_pool_map(pool, mpt_task_pid, none, 1, 2, 1, after,
                              sizeof *after, NULL, MP_WAIT_FOREVER));
        ASSERT_EQ(after[0], before[0]);
        int64_t in[3] = {1, 2, 3}, out[3];
        ASSERT_OK(mp_pool_map(pool, triple, in, sizeof *in, 3, 1, out,
                              sizeof *out, NULL, MP_WAIT_FOREVER));
        ASSERT_EQ(out[2], 9);
        mpt_pool_finish(pool);
    }
}

TEST(pool_submit_raw_ends_in_its_sink)
{
    mp_pool_opts_t o = MP_POOL_OPTS_INIT;
    o.processes = 1;
    o.start_method = MP_START_FORK;
    mp_pool_t *pool;
    ASSERT_OK(mp_pool_create(&pool, &o));
    catch_t ok = {.mu = PTHREAD_MUTEX_INITIALIZER}, dead = ok;
    mp__pool_cond_init(&ok.cv);
    mp__pool_cond_init(&dead.cv);
    int64_t in[3] = {1, 2, 3};
    size_t len;
    char *msg = task_message(triple, in, 3, &len);
    ASSERT_OK(mp__pool_submit_raw(pool, msg, len, &c_sink, &ok));
    free(msg);
    c_wait(&ok);
    /* The worker's reply as it came: packed results of one length. */
    ASSERT_EQ(ok.rh.kind, MP__REPLY_DONE);
    ASSERT_EQ(ok.rh.nitems, 3);
    ASSERT_EQ(ok.rh.uniform_len, sizeof(int64_t));
    ASSERT_EQ(ok.items_len, 3 * sizeof(int64_t));
    int64_t got[3];
    memcpy(got, ok.items, sizeof got);
    ASSERT_EQ(got[0], 3);
    ASSERT_EQ(got[2], 9);
    /* A task whose worker dies fails whole, with the cause. */
    int64_t bad[2] = {4, -1};
    msg = task_message(triple, bad, 2, &len);
    ASSERT_OK(mp__pool_submit_raw(pool, msg, len, &c_sink, &dead));
    free(msg);
    c_wait(&dead);
    ASSERT_EQ(dead.err, MP_EWORKER);
    ASSERT(strstr(dead.msg, "signal 9") != NULL);
    /* With the exit code its worker died with. */
    ASSERT_EQ(dead.exitcode, -SIGKILL);
    /* Not a task message. */
    ASSERT_ERR(mp__pool_submit_raw(pool, in, 4, &c_sink, &ok), MP_EPROTO);
    ASSERT_OK(mp_pool_close(pool));
    ASSERT_OK(mp_pool_join(pool, 10000));
    mp_pool_destroy(pool);
    pthread_cond_destroy(&ok.cv);
    pthread_cond_destroy(&dead.cv);
}

/* The sink of owner_takes_replies_...: the result, and whether it ran on
 * the owner's thread. */
typedef struct owner_catch {
    pthread_t owner;
    bool on_owner;
    int64_t got;
    atomic_bool ended; /* set last */
} owner_catch_t;

static void
o_done(void *arg, const mp__reply_hdr_t *rh, const char *p, const char *end)
{
    owner_catch_t *c = arg;
    c->on_owner = pthread_equal(pthread_self(), c->owner) != 0;
    c->got = -1;
    if (rh->kind == MP__REPLY_DONE && (size_t)(end - p) == sizeof c->got) {
        memcpy(&c->got, p, sizeof c->got);
    }
    atomic_store(&c->ended, true);
}

static void
o_fail(void *arg, int err, const char *msg, bool has_exit, int exitcode)
{
    (void)err;
    (void)msg;
    (void)has_exit;
    (void)exitcode;
    owner_catch_t *c = arg;
    c->on_owner = pthread_equal(pthread_self(), c->owner) != 0;
    c->got = -2;
    atomic_store(&c->ended, true);
}

static const mp__pool_sink_t o_sink = {.done = o_done, .fail = o_fail};

/* How often the other threads of this process (the pool's handler) have
 * gone to sleep: each wake-up of a sleeper is one. */
static long
others_sleeps(void)
{
    DIR *d = opendir("/proc/self/task");
    ASSERT_NOT_NULL(d);
    long sum = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            sum += mpt_sleeps_of(getpid(), (pid_t)atoi(e->d_name));
        }
    }
    closedir(d);
    return sum - mpt_sleeps_of(getpid(), gettid());
}

/* A pool whose owner takes its replies (the MPI rank's loop does, for its
 * local pools): each forwarded task's reply wakes the owner, which ends
 * it in its sink on its own thread; the handler thread neither spins nor
 * sleeps per task (before, each reply woke the handler, which handed it
 * over: one more wake-up per round trip). */
TEST_TIMEOUT(pool_owner_takes_replies_without_the_handler, 60)
{
    mp_pool_opts_t o = MP_POOL_OPTS_INIT;
    o.processes = 1;
    o.start_method = MP_START_FORK;
    mp_pool_t *pool;
    ASSERT_OK(mp_pool_create(&pool, &o));
    int64_t deadline = mp__deadline_after_ns((int64_t)20 * 1000000000);
    /* Once the handler handled the worker's READY and sleeps, nothing but
     * this test wakes it: it is told, and it sleeps again without the
     * result queue (a reply it found at that wake-up would be its). Told
     * before the READY came, it could be woken by both, one after the
     * other, and the second would count below. */
    mp_pool_worker_info_t worker = {0};
    mp_pool_stats_t st;
    while (worker.state != MP_POOL_WORKER_IDLE) {
        ASSERT(mp__now_ns() < deadline);
        sched_yield();
        ASSERT_EQ(mp_pool_stats(pool, &st, &worker, 1), 1);
    }
    uint64_t spins0, sleeps0, spins1, sleeps1;
    while (!mp__pool_spin_counts(pool, &spins0, &sleeps0)) {
        ASSERT(mp__now_ns() < deadline);
        sched_yield();
    }
    mp_waitable_t replies;
    mp__pool_owner_takes_replies(pool, &replies);
    while (!mp__pool_spin_counts(pool, &spins1, &sleeps1) ||
           sleeps1 == sleeps0) {
        ASSERT(mp__now_ns() < deadline);
        sched_yield();
    }
    (void)mp__pool_spin_counts(pool, &spins0, &sleeps0);
    long woken0 = others_sleeps();
    enum { TASKS = 40 };
    int on_owner = 0;
    for (int64_t i = 0; i < TASKS; i++) {
        owner_catch_t c = {.owner = pthread_self()};
        size_t len;
        char *msg = task_message(triple, &i, 1, &len);
        ASSERT_OK(mp__pool_submit_raw(pool, msg, len, &o_sink, &c));
        free(msg);
        while (!atomic_load(&c.ended)) {
            ASSERT(mp__now_ns() < deadline);
            (void)mp_wait_any(&replies, 1, 100);
            (void)mp__pool_help_replies(pool);
        }
        ASSERT_EQ(c.got, 3 * i);
        on_owner += c.on_owner;
    }
    (void)mp__pool_spin_counts(pool, &spins1, &sleeps1);
    long woken = others_sleeps() - woken0;
    ASSERT_EQ(on_owner, TASKS);
    /* The handler was not woken per reply (before: at least once each,
     * unless its spin caught the reply). */
    ASSERT_LE(woken, TASKS / 4);
    /* It stayed in the wait it was in. */
    ASSERT_EQ(spins1 - spins0 + sleeps1 - sleeps0, 0);
    /* Closed while a task is out (its reply waits for the owner): the
     * owner's taking it tells the handler, which stops the idle worker. */
    owner_catch_t last = {.owner = pthread_self()};
    int64_t x = 5;
    size_t len;
    char *msg = task_message(triple, &x, 1, &len);
    ASSERT_OK(mp__pool_submit_raw(pool, msg, len, &o_sink, &last));
    free(msg);
    while (mp_wait_any(&replies, 1, 100) <= 0) {
        ASSERT(mp__now_ns() < deadline);
    }
    (void)mp__pool_spin_counts(pool, &spins0, &sleeps0);
    ASSERT_OK(mp_pool_close(pool));
    /* The handler saw the close (the worker still busy) and waits again. */
    while (!mp__pool_spin_counts(pool, &spins1, &sleeps1) ||
           sleeps1 == sleeps0) {
        ASSERT(mp__now_ns() < deadline);
        sched_yield();
    }
    ASSERT_EQ(mp__pool_help_replies(pool), 1);
    ASSERT(atomic_load(&last.ended) && last.on_owner && last.got == 15);
    ASSERT_OK(mp_pool_join(pool, 10000));
    mp_pool_destroy(pool);
}
